"""Text as feeds send it: mojibake, raw control characters and HTML.

``repair_text`` undoes double-encoded UTF-8 (``Â£`` -> ``£``, ``â€™`` -> ``’``) with ftfy and
drops control characters, leaving HTML markup alone. ``html_to_text`` derives readable plain
text from an HTML fragment with the standard library's parser (block elements become line
breaks, list items get a dash, entities are decoded); it never executes or fetches anything.
Both are cheap on plain ASCII, which is most of what they see.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from html import unescape
from html.parser import HTMLParser

import ftfy

# Only repair encodings and control characters: keep curly quotes, ligatures and widths as the
# publisher wrote them, and never unescape HTML (descriptions are HTML and stay HTML).
_FTFY_CONFIG = ftfy.TextFixerConfig(unescape_html=False, uncurl_quotes=False, fix_latin_ligatures=False,
                                    fix_character_width=False, normalization="NFC", explain=False)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


# UTF-8 read as Windows-1252 or Latin-1 leaves a lead byte (Â..ô) followed by what a continuation
# byte (0x80-0xBF) turns into in those encodings. Text without such a pair has no mojibake to fix.
_MOJIBAKE_HINT = re.compile(
    "[\u00c2-\u00f4](?:[\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
    "\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]"
    # ... or a no-break space (C2 A0 / C3 A0) whose A0 was later flattened to a plain space.
    "|(?<=[\u00c2\u00c3]) )")
# (One leading character class, not a top-level alternation: the regex engine then skips ahead
# to candidate characters quickly, and most text has none.)


def repair_text(value):
    """Mojibake repaired and control characters removed; non-strings are returned unchanged."""
    if not isinstance(value, str) or not value:
        return value
    if value.isascii() or not _MOJIBAKE_HINT.search(value):
        return _CONTROL_RE.sub("", value) if not value.isprintable() and _CONTROL_RE.search(value) else value
    return _fix_mojibake(value)


# ftfy costs ~0.1 ms a string, and damaged text recurs within a feed (an organisation's
# description embedded in each of its services, a boilerplate eligibility line), so each
# distinct text is fixed once. fix_text is deterministic for a given config.
@lru_cache(maxsize=8192)
def _fix_mojibake(value: str) -> str:
    return ftfy.fix_text(value, _FTFY_CONFIG)


def clear_caches() -> None:
    """Forget every text repaired or made plain so far, so that the next texts cost what they
    cost when met for the first time (benchmarks of a first night)."""
    for cached in (_fix_mojibake, _repaired_literal, _plain_text):
        cached.cache_clear()


def json_needs_repair(text: str) -> bool | str:
    """Could the strings of this JSON text hold mojibake or control characters? Most records are
    plain (ASCII, or UTF-8 without mojibake) and skip the repair pass: False. True: every string
    needs ``repair_text``; "mojibake": only the non-ASCII ones do."""
    # Escapes may hide control characters (or mojibake). isprintable() is a quick "none here".
    if "\\u" in text or (not text.isprintable() and _CONTROL_RE.search(text)):
        return True
    if not text.isascii() and _MOJIBAKE_HINT.search(text):
        return "mojibake"
    return False


def json_has_mojibake_hint(text: str) -> bool:
    """Does non-ASCII text show a sign of mojibake (``json_needs_repair``'s "mojibake")?"""
    return _MOJIBAKE_HINT.search(text) is not None


# A JSON string literal from its opening quote (escapes other than \\uXXXX are all the raw text
# can hold when ``json_needs_repair`` said "mojibake").
_JSON_STRING_RE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_JSON_KEY_AFTER_RE = re.compile(r"\s*:")


def _literal_start(text: str, pos: int) -> int:
    """The opening quote of the JSON string literal that holds ``pos`` (inside a literal every
    other quote is escaped, so it is the nearest unescaped one to the left)."""
    i = text.rfind('"', 0, pos)
    while i > 0:
        j = i
        while j > 0 and text[j - 1] == "\\":
            j -= 1
        if (i - j) % 2 == 0:  # an even run of backslashes escapes itself, not the quote
            return i
        i = text.rfind('"', 0, i)
    return i


@lru_cache(maxsize=8192)
def _repaired_literal(literal: str) -> str | None:
    """A JSON string literal with its value repaired, or None when it needs no repair. Damaged
    texts recur (an organisation's description in each of its services), hence the cache."""
    value = json.loads(literal, strict=False)
    fixed = repair_text(value)
    return json.dumps(fixed, ensure_ascii=False) if fixed != value else None


def repair_mojibake_in_json(text: str) -> str:
    """JSON text whose string values with mojibake are repaired (``repair_text``), for text that
    ``json_needs_repair`` called "mojibake": the same values as parsing and then repairing every
    non-ASCII string, without walking the parsed object. Keys are left alone, as before."""
    pieces: list[str] = []
    copied = 0  # text[:copied] is in pieces
    handled = 0  # literals before this have been looked at
    for m in _MOJIBAKE_HINT.finditer(text):
        if m.start() < handled:
            continue  # another hint in a literal already handled
        start = _literal_start(text, m.start())
        lit = _JSON_STRING_RE.match(text, start) if start >= 0 else None
        if lit is None or lit.end() <= m.start():
            continue  # not inside a string literal (not valid JSON): parsing will say so
        handled = lit.end()
        if not _JSON_KEY_AFTER_RE.match(text, handled):  # (object keys are left alone)
            fixed = _repaired_literal(lit.group())
            if fixed is not None:
                pieces.append(text[copied:start])
                pieces.append(fixed)
                copied = handled
        # Every hint starts with a non-ASCII character. Damage is often in one field of a record
        # otherwise ASCII, and the regex's scan of the rest costs more than this test of it.
        if text[handled:].isascii():
            break
    if not pieces:
        return text
    pieces.append(text[copied:])
    return "".join(pieces)


def looks_like_html(text: str) -> bool:
    return isinstance(text, str) and "<" in text and bool(re.search(r"</?[a-zA-Z][^>]*>", text))


_BLOCK_TAGS = {"p", "div", "section", "article", "header", "footer", "blockquote", "pre", "table",
               "tr", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "address"}
_SKIP_TAGS = {"script", "style", "head", "title", "template", "noscript"}


class _TextExtractor(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in _SKIP_TAGS:
            self.skipping += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in ("td", "th"):
            self.parts.append(" ")
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_startendtag(self, tag, attrs):
        if tag == "br":
            self.parts.append("\n")
        elif tag == "hr":
            self.parts.append("\n\n")

    def handle_endtag(self, tag):
        if tag in _SKIP_TAGS:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


_SPACES_RE = re.compile(r"[ \t\f\v]+")
_BLANK_LINES_RE = re.compile(r"\n{3,}")


# Something the line-by-line tidy would change: a tab-like space, two spaces, or a space (of
# any kind, as str.strip sees them) at the end or start of a line.
_UNTIDY_RE = re.compile(r"[\t\f\v]| {2}|[^\S\n]\n|\n[^\S\n]")


def _tidy(text: str) -> str:
    if "\xa0" in text:
        text = text.replace("\xa0", " ")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _UNTIDY_RE.search(text):
        text = "\n".join([_SPACES_RE.sub(" ", line).strip() for line in text.split("\n")])
    if "\n\n\n" in text:
        text = _BLANK_LINES_RE.sub("\n\n", text)
    return text.strip()


# A well-formed tag: a name of letters and digits, attributes with quoted or plain values.
_SIMPLE_TAG_RE = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9]*)"
    r"((?:\s+[a-zA-Z_:][-a-zA-Z0-9_:.]*(?:\s*=\s*(?:\"[^\"<>]*\"|'[^'<>]*'|[^\s\"'=<>`]+))?)*)\s*/?>")


def _simple_html_parts(value: str) -> list[str] | None:
    """What ``_TextExtractor`` collects from HTML made only of well-formed tags, found with one
    regex instead of the stdlib parser (most feed descriptions: <p>, <b>, <ul><li>, <br/>).
    None for anything else (comments, script/style, a stray '<'): the parser handles that."""
    parts: list[str] = []
    pos = 0
    for m in _SIMPLE_TAG_RE.finditer(value):
        data = value[pos:m.start()]
        if "<" in data:
            return None
        if data:
            parts.append(unescape(data) if "&" in data else data)
        pos = m.end()
        closing, tag, attrs = m.group(1), m.group(2).lower(), m.group(3)
        if tag in _SKIP_TAGS:
            return None
        self_closing = m.group(0).endswith("/>")
        if closing:
            if attrs or self_closing:
                return None
            if tag in _BLOCK_TAGS:
                parts.append("\n\n")
        elif self_closing:
            if tag == "br":
                parts.append("\n")
            elif tag == "hr":
                parts.append("\n\n")
        elif tag == "br":
            parts.append("\n")
        elif tag == "li":
            parts.append("\n- ")
        elif tag in ("td", "th"):
            parts.append(" ")
        elif tag in _BLOCK_TAGS:
            parts.append("\n\n")
    rest = value[pos:]
    if "<" in rest:
        return None
    if rest:
        parts.append(unescape(rest) if "&" in rest else rest)
    return parts


def html_to_text(value):
    """Plain text from an HTML fragment (or plain text with entities); None stays None."""
    if value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    return _plain_text(value)


# Descriptions recur within a feed (an organisation's boilerplate, a council's standard wording).
@lru_cache(maxsize=4096)
def _plain_text(value: str) -> str:
    if "<" not in value:
        return _tidy(unescape(value) if "&" in value else value)
    parts = _simple_html_parts(value)
    if parts is not None:
        return _tidy("".join(parts))
    return html_to_text_by_parser(value)


def html_to_text_by_parser(value: str) -> str:
    """``html_to_text`` by the stdlib HTML parser (any HTML, however odd)."""
    parser = _TextExtractor()
    try:
        parser.feed(value)
        parser.close()
    except Exception:  # the stdlib parser is forgiving; this is a last resort for odd input
        return _tidy(re.sub(r"<[^>]*>", " ", unescape(value)))
    return _tidy("".join(parser.parts))
