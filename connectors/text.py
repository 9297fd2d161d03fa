"""Text as feeds send it: mojibake, raw control characters and HTML.

``repair_text`` undoes double-encoded UTF-8 (``Â£`` -> ``£``, ``â€™`` -> ``’``) with ftfy and
drops control characters, leaving HTML markup alone. ``html_to_text`` derives readable plain
text from an HTML fragment with the standard library's parser (block elements become line
breaks, list items get a dash, entities are decoded); it never executes or fetches anything.
Both are cheap on plain ASCII, which is most of what they see.
"""
from __future__ import annotations

import re
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
    "[\u00c2-\u00f4][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
    "\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]"
    # ... or a no-break space (C2 A0 / C3 A0) whose A0 was later flattened to a plain space.
    "|[\u00c2\u00c3] ")


def repair_text(value):
    """Mojibake repaired and control characters removed; non-strings are returned unchanged."""
    if not isinstance(value, str) or not value:
        return value
    if value.isascii() or not _MOJIBAKE_HINT.search(value):
        return _CONTROL_RE.sub("", value) if _CONTROL_RE.search(value) else value
    return ftfy.fix_text(value, _FTFY_CONFIG)


def json_needs_repair(text: str) -> bool | str:
    """Could the strings of this JSON text hold mojibake or control characters? Most records are
    plain (ASCII, or UTF-8 without mojibake) and skip the repair pass: False. True: every string
    needs ``repair_text``; "mojibake": only the non-ASCII ones do."""
    if "\\u" in text or _CONTROL_RE.search(text):  # escapes may hide control characters (or mojibake)
        return True
    if not text.isascii() and _MOJIBAKE_HINT.search(text):
        return "mojibake"
    return False


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


def _tidy(text: str) -> str:
    text = text.replace("\xa0", " ").replace("\r\n", "\n").replace("\r", "\n")
    lines = [re.sub(r"[ \t\f\v]+", " ", line).strip() for line in text.split("\n")]
    out = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", out).strip()


def html_to_text(value):
    """Plain text from an HTML fragment (or plain text with entities); None stays None."""
    if value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    if "<" not in value:
        return _tidy(unescape(value) if "&" in value else value)
    parser = _TextExtractor()
    try:
        parser.feed(value)
        parser.close()
    except Exception:  # the stdlib parser is forgiving; this is a last resort for odd input
        return _tidy(re.sub(r"<[^>]*>", " ", unescape(value)))
    return _tidy("".join(parser.parts))
