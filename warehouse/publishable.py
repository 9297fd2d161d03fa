"""The one policy for what placecat republishes: each ORUK field's kind, and what a value of that
kind must look like before it leaves (the catalogue file, the API, exports).

The nightly catalogue build applies it to ``catalogue.*`` (``quality.publishing``) and the
publishing code (``warehouse.oruk_json``) applies the same functions again to what it serves, so
that an older catalogue file is served no differently. Every function is pure, cached by value and
returns the publishable value and why it changed (``Change``), so the build can report each change
against the source record it came from.

- **HTML** (descriptions): sanitised with nh3 to ``p, br, ul, ol, li, a, strong, em, b, i``; links
  only ``http``/``https``/``mailto``/``tel`` (``rel="noopener noreferrer nofollow"``), scripts,
  styles, SVG, iframes and event handlers removed with their content; then personal data is
  scrubbed from the *text the reader sees*: the text nodes are joined as a browser renders them, so
  an address split over two links is found and withheld across both.
- **text** (names, notes, addresses, every other string): markup flattened to plain text, invisible
  characters (zero-width spaces, joiners, bidi controls, soft hyphens, BOMs) and control characters
  removed, every kind of space (no-break, thin, ideographic) made a plain space; personal e-mails,
  mobiles and (in free text) named individuals replaced by placeholders.
- **url**: made absolute (``www.example.org/x`` -> ``https://www.example.org/x``), only ``http`` and
  ``https``, and the host checked (a dotted DNS name with a letter TLD, or an IP address; no
  user:password@); anything else (``javascript:``, ``data:``, ``file:``, a bare word) is left out.
- **email**: every kind of space and invisible character removed, ``mailto:`` dropped, the domain
  lower-cased; an address that is still not an address, or is personal, is left out (never replaced
  by another address: a guess can name someone else).
- **phone**: a mobile number is personal: the phone row is left out.
- **contact name** (``contact.name``, ``address.attention``): a named individual is left out; a role
  written after the name ("Jane Smith, Adviser") becomes the contact's title.
"""
from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from html import escape, unescape
from urllib.parse import quote, urlsplit, urlunsplit

import nh3

from warehouse import personal
from warehouse.model import ORUK_TABLES

# -- field kinds, declared per table -----------------------------------------------------------
HTML_FIELDS: dict[str, tuple[str, ...]] = {
    "service": ("description",),
    "organization": ("description",),
    "location": ("description",),
    "accessibility": ("description", "details"),
}
URL_FIELDS: dict[str, tuple[str, ...]] = {
    "service": ("url",),
    "organization": ("website", "logo", "uri"),
    "taxonomy": ("uri",),
    "taxonomy_term": ("term_uri",),
    "schedule": ("schedule_link",),
    "service_area": ("uri",),
    "accessibility": ("url",),
}
EMAIL_FIELDS: dict[str, tuple[str, ...]] = {
    "service": ("email", "assurer_email"),
    "organization": ("email",),
    "contact": ("email",),
}
PHONE_FIELDS: dict[str, tuple[str, ...]] = {"phone": ("number",)}
PERSON_FIELDS: dict[str, tuple[str, ...]] = {"contact": ("name",), "address": ("attention",)}
# Free text where a person may be named (the other text fields are codes, places and addresses,
# where "Victoria Road" and "St Helens" are not people).
FREE_TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "service": ("name", "fees", "accreditations", "alert"),
    "organization": ("name",),
    "location": ("name",),
    "schedule": ("description", "notes"),
    "cost_option": ("amount_description",),
    "contact": ("title", "department"),
    "phone": ("description",),
    "language": ("note",),
    "funding": ("source",),
}


def field_kind(table: str, column: str) -> str | None:
    """html | url | email | phone | person | free_text | text, or None for ids and non-text columns."""
    if column == "id" or column.endswith("_id"):
        return None
    for kind, fields in (("html", HTML_FIELDS), ("url", URL_FIELDS), ("email", EMAIL_FIELDS),
                         ("phone", PHONE_FIELDS), ("person", PERSON_FIELDS), ("free_text", FREE_TEXT_FIELDS)):
        if column in fields.get(table, ()):
            return kind
    types = {c: t for c, t, _ in ORUK_TABLES.get(table, [])}
    return "text" if types.get(column, "VARCHAR") == "VARCHAR" else None


def publishable_fields(table: str) -> list[tuple[str, str]]:
    """(column, kind) of every column of an ORUK table the policy looks at."""
    return [(c, k) for c, _t, _o in ORUK_TABLES[table] if (k := field_kind(table, c))]


@dataclass(frozen=True)
class Change:
    """Why a value changed on its way out: rule (``personal_data``, ``unsafe_url``, ``url_format``,
    ``url_normalised``, ``email_format``, ``markup``, ``invisible_characters``), the finding for
    personal data, and a message that never repeats the personal value itself."""
    rule: str
    message: str
    finding: personal.Finding | None = None


Result = tuple["str | None", tuple[Change, ...]]

# -- characters ----------------------------------------------------------------------------------
# Zero-width space/joiners, LRM/RLM, bidi embeddings and isolates, word joiner and invisible
# operators, BOM, soft hyphen, Mongolian vowel separator, and C0/C1 control characters but the
# line breaks and tab.
INVISIBLE_RE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u00ad\u180e"
                          "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Every space that is not a plain one: no-break, en/em/thin/hair spaces, narrow no-break,
# medium mathematical, ideographic, Ogham.
ODD_SPACE_RE = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_SPACES_RE = re.compile(r"[ \t]+")
_UNSAFE_MARKUP_RE = re.compile(r"<\s*(?:script|style|iframe|object|embed|svg|math|form|meta|link|base)\b|"
                               r"\bon[a-z]+\s*=|(?:javascript|vbscript|data)\s*:", re.I)
_MARKUP_RE = re.compile(r"</?[a-zA-Z][^>]*>|<!--|&(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);")


def clean_characters(value: str) -> str:
    """Invisible and control characters removed, odd spaces made plain."""
    if not value.isascii() or not value.isprintable():
        value = ODD_SPACE_RE.sub(" ", INVISIBLE_RE.sub("", value.replace("\r\n", "\n")))
    return value


def _tidy_lines(text: str) -> str:
    lines = [_SPACES_RE.sub(" ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# -- HTML --------------------------------------------------------------------------------------
ALLOWED_TAGS = frozenset({"p", "br", "ul", "ol", "li", "a", "strong", "em", "b", "i"})
ALLOWED_ATTRIBUTES = {"a": {"href"}}
DROP_WITH_CONTENT = frozenset({"script", "style", "svg", "math", "iframe", "object", "embed", "template",
                               "noscript", "textarea", "select", "title", "head"})
LINK_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
LINK_REL = "noopener noreferrer nofollow"
BLOCK_TAGS = frozenset({"p", "br", "ul", "ol", "li", "div", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table"})
_TAG_RE = re.compile(r"(<[^>]*>)")


def _href_filter(tag: str, attribute: str, value: str) -> str | None:
    """Links kept only when safe to follow and not personal: http(s) normalised, mailto to a role
    address, tel to a number that is not a mobile."""
    if attribute != "href":
        return value
    scheme = value.split(":", 1)[0].strip().lower() if ":" in value else ""
    if scheme == "mailto":
        address, _changes = normalise_email(value)
        return "mailto:" + address if address and not personal.email_finding(address) else None
    if scheme == "tel":
        return value if not personal.is_mobile(value) else None
    url, _changes = normalise_url(value)
    return url


def sanitise_html(value: str) -> str:
    """Republishable HTML (the module docstring says what is kept)."""
    cleaned = nh3.clean(clean_characters(value), tags=set(ALLOWED_TAGS), attributes=ALLOWED_ATTRIBUTES,
                        clean_content_tags=set(DROP_WITH_CONTENT), url_schemes=set(LINK_SCHEMES),
                        link_rel=LINK_REL, strip_comments=True, attribute_filter=_href_filter)
    return cleaned.strip()


def _segments(html: str) -> tuple[list[str], str, list[tuple[int, int, int]]]:
    """The pieces of sanitised HTML (tags and text), the text a reader sees, and for each text
    piece (piece index, start, end) in that text. Block tags become line breaks."""
    pieces = [p for p in _TAG_RE.split(html) if p]
    text_parts: list[str] = []
    spans: list[tuple[int, int, int]] = []
    pos = 0
    for i, piece in enumerate(pieces):
        if piece.startswith("<"):
            name = re.match(r"</?\s*([a-zA-Z0-9]+)", piece)
            if name and name.group(1).lower() in BLOCK_TAGS:
                text_parts.append("\n")
                pos += 1
            continue
        text = unescape(piece)
        text_parts.append(text)
        spans.append((i, pos, pos + len(text)))
        pos += len(text)
    return pieces, "".join(text_parts), spans


def flatten(html: str) -> str:
    """The text of an HTML fragment as a reader sees it (what personal data is looked for in)."""
    return _tidy_lines(_segments(html)[1]) if "<" in html or "&" in html else html


def scrub_html(html: str, names: bool = True) -> tuple[str, list[personal.Finding]]:
    """Sanitised HTML with personal data replaced in the text a reader sees, across tags."""
    pieces, text, spans = _segments(html)
    findings = personal.find_in_text(text, names)
    if not findings:
        return html, []
    texts = {i: unescape(pieces[i]) for i, _s, _e in spans}
    edits: dict[int, list[tuple[int, int, str]]] = {}
    for f in findings:
        first = True
        for i, s, e in spans:
            if e <= f.start or s >= f.end:
                continue
            a, b = max(f.start, s) - s, min(f.end, e) - s
            edits.setdefault(i, []).append((a, b, personal.PLACEHOLDER[f.kind] if first else ""))
            first = False
    for i, changes in edits.items():
        t = texts[i]
        for a, b, repl in sorted(changes, reverse=True):
            t = t[:a] + repl + t[b:]
        pieces[i] = escape(t, quote=False)
    return "".join(pieces), findings


# -- URLs and e-mail addresses -----------------------------------------------------------------
WEB_SCHEMES = ("http", "https")
_SCHEME_RE = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
_HOSTLIKE_RE = re.compile(r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,62}[a-zA-Z0-9])?\.)+[a-zA-Z][a-zA-Z0-9-]*[a-zA-Z0-9]"
                          r"(?::\d{1,5})?(?:[/?#].*)?$")
_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _host_ok(host: str) -> bool:
    if not host:
        return False
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return False
    labels = ascii_host.rstrip(".").split(".")
    return len(labels) >= 2 and all(_LABEL_RE.match(x) for x in labels) and \
        (labels[-1].isalpha() and len(labels[-1]) >= 2 or labels[-1].startswith("xn--"))


@functools.lru_cache(maxsize=65536)
def normalise_url(value: str) -> Result:
    """An absolute http(s) URL, or None with the reason (``unsafe_url``, ``url_format``)."""
    v = re.sub(r"\s+", " ", clean_characters(value)).strip().strip("<>\"'").strip()
    if not v:
        return None, ()
    changes: list[Change] = []
    m = _SCHEME_RE.match(v)
    if m and not (m.group(1).isdigit() or ("." in m.group(1) and _HOSTLIKE_RE.match(v))):
        scheme = m.group(1).lower()
        if scheme not in WEB_SCHEMES:
            rule = "unsafe_url" if scheme in ("javascript", "data", "vbscript", "file", "blob") else "url_format"
            return None, (Change(rule, f"a {scheme}: link is not a web address; left out"),)
    else:
        if v.startswith("//"):
            v = "https:" + v
        elif _HOSTLIKE_RE.match(v):
            v = "https://" + v
            changes.append(Change("url_normalised", "https:// added to a web address written without a scheme"))
        else:
            return None, (Change("url_format", "not a web address (no scheme and no host); left out"),)
    try:
        parts = urlsplit(v)
        host = parts.hostname or ""
        port = parts.port  # raises on a bad port
    except ValueError:
        return None, (Change("url_format", "not a web address (cannot be parsed); left out"),)
    if parts.username is not None or parts.password is not None:
        return None, (Change("unsafe_url", "a web address with a user name or password in it; left out"),)
    if not _host_ok(host):
        return None, (Change("url_format", "the web address has no valid host name; left out"),)
    netloc = host.lower() + (f":{port}" if port else "")
    path = quote(parts.path, safe="/%:@!$&'()*+,;=-._~") or ("/" if not parts.query and not parts.fragment else "")
    query = quote(parts.query, safe="=&%:@!$'()*+,;/?-._~")
    fragment = quote(parts.fragment, safe="=&%:@!$'()*+,;/?-._~")
    out = urlunsplit((parts.scheme.lower(), netloc, path if path != "/" or value.rstrip().endswith("/") else "",
                      query, fragment))
    return out, tuple(changes)


_EMAIL_FULL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                            r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}$")


@functools.lru_cache(maxsize=65536)
def normalise_email(value: str) -> Result:
    """An e-mail address without spaces of any kind, ``mailto:`` or a trailing full stop, its domain
    lower-cased; None with ``email_format`` when it is still not an address."""
    v = re.sub(r"\s+", "", ODD_SPACE_RE.sub("", INVISIBLE_RE.sub("", value)))
    if v.lower().startswith("mailto:"):
        v = v[7:].split("?", 1)[0]
    v = v.strip(".,;:<>()[]\"'")
    if not v:
        return None, ()
    if "@" in v:
        local, domain = v.rsplit("@", 1)
        v = local + "@" + domain.lower()
    if not _EMAIL_FULL_RE.match(v) or ".." in v:
        return None, (Change("email_format", "not an e-mail address; left out"),)
    return v, ()


# -- a value of each kind ------------------------------------------------------------------------
def _personal(findings: list[personal.Finding]) -> tuple[Change, ...]:
    return tuple(Change("personal_data", f"{f.kind.replace('_', ' ')} withheld ({f.reason}: {personal.mask(f.value)})", f)
                 for f in findings)


@functools.lru_cache(maxsize=32768)
def publishable_html(value: str) -> Result:
    html = sanitise_html(value)
    changes: list[Change] = []
    if _UNSAFE_MARKUP_RE.search(value) and not _UNSAFE_MARKUP_RE.search(html):
        changes.append(Change("markup", "unsafe markup removed (scripts, styles, event handlers, script links)"))
    html, findings = scrub_html(html)
    return (html or None), tuple(changes) + _personal(findings)


@functools.lru_cache(maxsize=65536)
def publishable_text(value: str, names: bool = False) -> Result:
    text = clean_characters(value)
    changes: list[Change] = []
    if text != value:
        changes.append(Change("invisible_characters", "invisible characters or odd spaces removed"))
    if "<" in text or "&" in text:
        if _MARKUP_RE.search(text):
            flat = flatten(sanitise_html(text))
            if flat != unescape(text):
                changes.append(Change("markup", "markup removed from a plain-text field"))
            text = flat
    text = _tidy_lines(text) if "\n" in text else _SPACES_RE.sub(" ", text).strip()
    findings = personal.find_in_text(text, names)
    if findings:
        text = personal.scrub_text(text, names)
    return (text or None), tuple(changes) + _personal(findings)


@functools.lru_cache(maxsize=65536)
def publishable_email(value: str) -> Result:
    address, changes = normalise_email(value)
    if address is None:
        return None, changes
    finding = personal.email_finding(address)
    if finding:
        return None, changes + _personal([finding])
    return address, changes


@functools.lru_cache(maxsize=32768)
def publishable_phone(value: str) -> Result:
    number = clean_characters(value).strip()
    if personal.is_mobile(number):
        return None, _personal([personal.Finding("mobile_number", number, "uk_mobile")])
    return publishable_text(value)


@functools.lru_cache(maxsize=32768)
def publishable_person(value: str) -> Result:
    """A contact's name (or an address's attention line): published only when it names no one."""
    text, changes = publishable_text(value)
    name, _role, finding = personal.contact_name_parts(text)
    if finding:
        return None, changes + _personal([finding])
    return name, changes


def role_in_name(value: str | None) -> str | None:
    """The role written after a person's name ("Jane Smith, Adviser" -> "Adviser")."""
    if not value:
        return None
    text, _changes = publishable_text(value)
    return personal.contact_name_parts(text)[1]


def publishable(kind: str, value: str | None) -> Result:
    """The value of a field of this kind as it may be published, and what changed."""
    if value is None or not isinstance(value, str):
        return value, ()
    if kind == "html":
        return publishable_html(value)
    if kind == "url":
        return normalise_url(value)
    if kind == "email":
        return publishable_email(value)
    if kind == "phone":
        return publishable_phone(value)
    if kind == "person":
        return publishable_person(value)
    return publishable_text(value, names=(kind == "free_text"))


def published_text(kind: str, value: str | None) -> str:
    """The text a reader of a published value sees (HTML flattened), for the final check."""
    if not value:
        return ""
    return flatten(value) if kind == "html" else value


def clear_caches() -> None:
    for fn in (normalise_url, normalise_email, publishable_html, publishable_text, publishable_email,
               publishable_phone, publishable_person, personal.email_finding):
        fn.cache_clear()
