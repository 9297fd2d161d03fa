"""What counts as personal data in a value, and how it is masked: the detectors of the privacy
policy (``warehouse.publishable`` applies them; ``quality.personal_data`` reports them).

Personal here means something that reaches or names a private individual rather than a service:

- **personal e-mail addresses**: any address at a consumer mail domain (gmail, hotmail, yahoo, ...),
  and any address whose local part is shaped like a person's name, at any domain: a staff
  ``first.last@council.gov.uk`` names a person whether or not the first name is a common English
  one (``priya.shah@``, ``wojciech.nowak@``), and so do ``jo@``, ``o.plenty@`` and
  ``oliviaplenty@``. Role words (``info``, ``adult.care``, ``community.meals``) are not personal;
- **UK mobile numbers** (07..., +44 7..., 0044 7...) however they are grouped (``07700 900111``,
  ``07 700 900 111``, ``+44 (0)7700-900-111``);
- **named individuals**: a title and a name (``Mrs Patel``, ``Dr Jane Smith``), a known given name
  and a surname (``Jane Smith``, ``Jane Smith, Adviser``), or a given name after "ask for",
  "contact", "speak to" (``ask for Sam``), except where the name is part of a place or an
  organisation (``Victoria Park``, ``Jack Petchey Foundation``).

Detection runs on *text*, never on HTML: an address written as two links
(``<a>jo.bloggs@gmail.</a><a>com</a>``) is one address once the markup is flattened
(``warehouse.publishable.flatten``).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

CONSUMER_DOMAINS = frozenset("""
gmail.com googlemail.com hotmail.com hotmail.co.uk live.com live.co.uk msn.com outlook.com outlook.co.uk
yahoo.com yahoo.co.uk ymail.com rocketmail.com aol.com aol.co.uk btinternet.com btopenworld.com
talk21.com sky.com tiscali.co.uk talktalk.net virginmedia.com ntlworld.com blueyonder.co.uk
icloud.com me.com mac.com protonmail.com proton.me gmx.com gmx.co.uk mail.com zoho.com
orange.net wanadoo.co.uk fsmail.net freeserve.co.uk o2.co.uk plus.com
""".split())

# Common given names in England and Wales (ONS baby-name lists, 1950s-2010s, and the commonest
# names of the largest minority communities), lower-cased. They recognise a person's name in free
# text and in single-word e-mail local parts (``jo@``, ``oliviaplenty@``); dotted local parts
# (``first.last@``) are judged by their shape and do not need the name to be listed.
FIRST_NAMES = frozenset("""
aaron abbie abdul abigail adam adrian ahmed aidan aisha alan albert alex alexander alexandra alfie ali
alice alison amanda amber amelia amir amy andrea andrew angela anita ann anna anne annie anthony antony
archie arthur ashley asif ayesha barbara barry ben benjamin beth bethany betty bill billy brenda brian
bridget caitlin callum cameron carl carol caroline carolyn catherine charles charlie charlotte chloe
chris christina christine christopher claire clare colin connor craig daisy dan daniel danielle darren
dave david dawn dean debbie deborah debra dennis derek diana diane donna dorothy dylan edward eileen
elaine eleanor elizabeth ella ellie emily emma eric erin ethan evie faisal farah fatima faye fiona
frances francesca frank freddie freya gail gareth gary gavin gemma geoff geoffrey george georgia
gillian gordon grace graham gurpreet hamza hannah harjit harpreet harriet harry hassan hayley heather
helen holly hussain ian imogen imran isabel isabella isla isobel jack jackie jacob jacqueline jade jake
james jamie jane janet janice jason jaspreet jayne jean jeff jennifer jenny jeremy jessica jill jim jo
joan joanna joanne joe john jonathan jordan joseph josh joshua joy joyce judith julia julie justin
karen kate katherine kathleen kathryn katie kay keith kelly kerry kevin khalid kieran kim kirsty
krishna lakshmi laura lauren leah lee leo leon lesley leslie lewis liam lily linda lindsay lisa lois
louis louise lucy luke lydia lynn lynne maisie malcolm mandy manjit margaret maria marie marion mark
martin martyn mary matt matthew maureen megan melanie michael michelle mike mohammad mohammed molly
muhammad nadia nancy naomi natalie natasha neil nicholas nicola nicole nigel nina noor oliver olivia
omar oscar owen pamela pat patricia patrick paul paula pauline peter philip phillip phoebe poppy priya
rachel rahul rajesh ralph ravi rebecca richard rob robert robin rose rosie ross ruby russell ruth ryan
sadie sally sam samantha samuel sandra sanjay sara sarah scott sean shabana sharon sheila shirley
simon sophie stacey stephanie stephen steve steven stuart sue sunita susan suzanne tanya teresa terry
theo thomas tim timothy toby tom tony tracey tracy usman valerie vanessa vicky victoria vincent wendy
william yasmin yusuf yvonne zainab zara zoe
""".split())

# Local-part words that name a role, a team or a thing, never a person. A word of four letters
# or more also counts at the start of a longer word (``infoleeds``, ``admincentre``).
ROLE_WORDS = frozenset("""
admin info enquiries enquiry enquire inquiries inquiry office support help helpline contact contacts
hello team reception booking bookings sales service services care carer carers news mail post general
marketing referral referrals advice project projects volunteer volunteers volunteering secretary chair
manager community test web noreply no-reply donotreply duty clinic centre center group club church
school trust charity foundation events finance accounts hr jobs press media safeguarding safeguard ask
queries question questions meals adult adults children families family youth health wellbeing college
social transport studio casework hub library leisure sport sports gym pool theatre arts museum
council city county borough district parish partnership network forum alliance association society
housing benefits debt food bank pantry shop cafe coordinator administrator director enquiry
""".split())
ROLE_PREFIXES = tuple(w for w in ROLE_WORDS if len(w) >= 4)

EMAIL_RE = re.compile(r"(?<![\w.+*-])([A-Za-z0-9][A-Za-z0-9._%+'-]*)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)", re.I)
# A UK mobile as people write it: 07 or +44 7 / 0044 7 / +44 (0)7, then nine more digits in any
# grouping of spaces, dots, hyphens or brackets. Which numbers are mobiles is decided on the digits.
MOBILE_RE = re.compile(r"(?<![\d+])\(?(?:(?:\+|00)\s?44\s?(?:\(0\)\s?)?|0)7(?:[\s.\-()]{0,2}\d){9}(?!\d)")
# The leading 0 is optional: a spreadsheet that stored the number as a number drops it
# ("7685 671690"). Ten digits from 71-79 are never a landline (those begin 01, 02 or 03).
_MOBILE_DIGITS_RE = re.compile(r"^(?:44|0)?7[1-9]\d{8}$")

TITLES = ("Mr", "Mrs", "Ms", "Miss", "Mx", "Dr", "Prof", "Rev", "Revd", "Cllr", "Sir", "Dame")
_NAME_WORD = r"[A-Z][a-z'’]+(?:-[A-Z][a-z'’]+)?"
TITLE_NAME_RE = re.compile(rf"\b(?:{'|'.join(TITLES)})\.?\s+{_NAME_WORD}(?:\s+{_NAME_WORD})?")
# A capitalised word and the one after it: a person's name when the first is a known given name.
NAME_PAIR_RE = re.compile(rf"\b([A-Z][a-z]+)(?=(\s+)({_NAME_WORD})\b)")  # (overlapping: "Call Jane Smith")
# A given name after the words that introduce a person to contact.
CONTACT_NAME_RE = re.compile(r"\b(?:[Aa]sk for|[Cc]ontact|[Ss]peak to|[Tt]alk to|[Cc]all|[Rr]ing|[Tt]ext|[Ee]mail|"
                             r"[Ww]rite to|[Cc]ontact person:?|[Cc]ontact name:?)\s+([A-Z][a-z]+)\b")
# Words that make a "given name + word" a place, an organisation or a thing, not a person: as the
# second word ("Victoria Park", "Grace Church") or the word after ("Jack Petchey Foundation").
NOT_SURNAME = frozenset("""
road street lane avenue close way drive crescent grove place square terrace gardens garden park hill
court house hall centre center church chapel mosque temple school college academy university hospital
surgery practice clinic ward unit wing building library museum gallery theatre cinema community trust
foundation fund charity group club society association project network partnership alliance forum
council services service team house lodge cottage farm estate bridge station street's green common
fields field wood woods view rise mews walk row parade market arcade memorial institute
lines line day days week month year award awards prize
""".split())
NOT_PERSON_WORDS = frozenset("""
monday tuesday wednesday thursday friday saturday sunday january february march april june july
august september october november december christmas easter
""".split())

EMAIL_WITHHELD = "[email withheld]"
PHONE_WITHHELD = "[phone number withheld]"
NAME_WITHHELD = "[name withheld]"


@dataclass(frozen=True)
class Finding:
    kind: str      # personal_email | mobile_number | named_individual
    value: str
    reason: str    # consumer_domain | name_shaped | uk_mobile | contact_name | titled_name | given_and_family_name
    start: int = -1
    end: int = -1


def _looks_like_surname(s: str) -> bool:
    return 2 <= len(s) <= 20 and s.isalpha() and any(v in s for v in "aeiouy")


def _is_role_word(word: str) -> bool:
    return word in ROLE_WORDS or word.startswith(ROLE_PREFIXES)


@functools.lru_cache(maxsize=65536)
def email_finding(address: str) -> Finding | None:
    """Why an e-mail address is personal, or None for a role address."""
    m = EMAIL_RE.fullmatch(address.strip()) if address else None
    if not m:
        return None
    local, domain = m.group(1).lower(), m.group(2).lower()
    value = address.strip()
    if domain in CONSUMER_DOMAINS:
        return Finding("personal_email", value, "consumer_domain")
    parts = [p for p in re.split(r"[._'-]", local) if p]
    if not parts or any(_is_role_word(p) for p in parts):
        return None
    if len(parts) == 1:
        word = parts[0]
        if word in FIRST_NAMES:
            return Finding("personal_email", value, "name_shaped")
        # firstnamelastname (oliviaplenty): a known given name and a surname-like rest.
        for n in range(2, min(len(word) - 2, 10) + 1):
            if word[:n] in FIRST_NAMES and _looks_like_surname(word[n:]) and len(word) - n >= 3:
                return Finding("personal_email", value, "name_shaped")
        return None
    if len(parts) in (2, 3) and all(p.isalpha() for p in parts):
        first, last = parts[0], parts[-1]
        # first.last, f.last, first.m.last: the shape names a person, whether or not the given name
        # is listed, unless the first part reads as an acronym (awp.bass@: no vowel after its first letter).
        name_like = first in FIRST_NAMES or len(first) == 1 or (
            _looks_like_surname(first) and len(first) >= 3 and any(v in first[1:] for v in "aeiouy"))
        if name_like and _looks_like_surname(last) and len(last) >= 2:
            return Finding("personal_email", value, "name_shaped")
    return None


def is_mobile(text: str) -> bool:
    digits = re.sub(r"\D", "", text)
    if digits.startswith("0044"):
        digits = digits[2:]
    if digits.startswith("440"):
        digits = "44" + digits[3:]
    return bool(_MOBILE_DIGITS_RE.match(digits))


def _name_findings(text: str) -> list[Finding]:
    out: list[Finding] = []
    for m in TITLE_NAME_RE.finditer(text):
        out.append(Finding("named_individual", m.group(0), "titled_name", m.start(), m.end()))
    for m in NAME_PAIR_RE.finditer(text):
        first, last = m.group(1), m.group(3)
        end = m.end(1) + len(m.group(2)) + len(last)
        if first.lower() not in FIRST_NAMES or last.lower() in NOT_SURNAME or last.lower() in NOT_PERSON_WORDS:
            continue
        after = re.match(r"(?:\s+(?:[A-Z][a-z]+|&|and|of|for)){1,3}", text[end:])
        if after and any(w.lower() in NOT_SURNAME for w in after.group(0).split()):
            continue  # part of an organisation's or a place's name ("The Richard Dimbleby Cancer Fund")
        out.append(Finding("named_individual", text[m.start():end], "given_and_family_name", m.start(), end))
    for m in CONTACT_NAME_RE.finditer(text):
        if m.group(1).lower() in FIRST_NAMES:
            out.append(Finding("named_individual", m.group(1), "contact_name", m.start(1), m.end(1)))
    return out


def find_in_text(text: str | None, names: bool = True) -> list[Finding]:
    """Personal e-mails, mobile numbers and (with ``names``) named individuals in plain text,
    with their positions, in order and without overlaps."""
    if not text:
        return []
    found: list[Finding] = []
    if "@" in text:
        for m in EMAIL_RE.finditer(text):
            f = email_finding(m.group(0))
            if f:
                found.append(Finding(f.kind, f.value, f.reason, m.start(), m.end()))
    if "7" in text:
        for m in MOBILE_RE.finditer(text):
            if is_mobile(m.group(0)):
                found.append(Finding("mobile_number", m.group(0), "uk_mobile", m.start(), m.end()))
    if names:
        found += _name_findings(text)
    found.sort(key=lambda f: (f.start, -f.end))
    out: list[Finding] = []
    for f in found:
        if out and f.start < out[-1].end:
            continue
        out.append(f)
    return out


PLACEHOLDER = {"personal_email": EMAIL_WITHHELD, "mobile_number": PHONE_WITHHELD, "named_individual": NAME_WITHHELD}


def scrub_text(text: str | None, names: bool = True) -> str | None:
    """Plain text with each personal e-mail, mobile number and named individual replaced by a
    placeholder. Never by another address: a guess could name someone else."""
    findings = find_in_text(text, names)
    if not findings:
        return text
    pieces, pos = [], 0
    for f in findings:
        pieces += [text[pos:f.start], PLACEHOLDER[f.kind]]
        pos = f.end
    pieces.append(text[pos:])
    return "".join(pieces)


_ROLE_AFTER_NAME_RE = re.compile(r"^\s*(?:,|-|–|—|\(|/)\s*(?P<role>[^()]+?)\)?\s*$")


def contact_name_parts(name: str | None) -> tuple[str | None, str | None, Finding | None]:
    """A contact's name split into (name to publish, role, finding): "Jane Smith, Adviser" ->
    (None, "Adviser", finding); "Reception" -> ("Reception", None, None)."""
    if not name or not name.strip():
        return name, None, None
    s = " ".join(name.split())
    person = named_individual(s)
    if person is None:
        return s, None, None
    rest = (s[:person.start] + s[person.end:]).strip()
    role = None
    m = _ROLE_AFTER_NAME_RE.match(rest) if rest else None
    if m and not find_in_text(m.group("role")):
        role = m.group("role").strip()
    return None, role, person


def named_individual(name: str | None) -> Finding | None:
    """The named individual in a contact name. Stricter than in free text: a lone given name
    ("Jane"), a given name and an initial ("Jane S") or a given name before a role ("Jane,
    Adviser") name a person too."""
    if not name or not name.strip():
        return None
    s = " ".join(name.split())
    found = _name_findings(s)
    if found:
        return found[0]
    m = re.match(r"([A-Z][a-z]+)(\s+[A-Z]\.?)?(?=$|\s*[,(/–—-])", s)
    if m and m.group(1).lower() in FIRST_NAMES:
        return Finding("named_individual", m.group(0), "contact_name", 0, m.end())
    return None


def is_named_individual(name: str | None) -> bool:
    return named_individual(name) is not None


def mask(value: str) -> str:
    """Enough to recognise a finding in the publisher's report, not enough to republish it."""
    value = value.strip()
    if "@" in value:
        local, domain = value.split("@", 1)
        shown = local[0] + "*" * (len(local) - 2) + local[-1] if len(local) > 3 else local[0] + "*" * max(len(local) - 1, 1)
        return shown + "@" + domain
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 7:
        return digits[:3] + "*" * max(len(digits) - 5, 0) + digits[-2:]
    return (value[:1] or "*") + ". ***"
