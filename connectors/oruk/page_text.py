"""A page of an ORUK feed as text: parsed once, each service kept as the JSON text the server sent.

Feeds send raw control characters, mojibake and byte-order marks; ``parse_page_text`` finds each
item's text span while parsing, ``storable_text`` tells whether that text can be stored as it is,
and ``parse_raw_text`` reads a stored record back (leniently, repairing mojibake in the text).
"""
from __future__ import annotations

import json
import re
from typing import Any

from connectors.http import decode_body, looks_like_html, parse_json_body
from connectors.text import json_has_mojibake_hint, json_needs_repair, repair_mojibake_in_json

_WS = re.compile(r"[ \t\n\r]*")


_RAW_CONTROL = re.compile(r"[\x00-\x1f]")


def _after_value(text: str, i: int, close: str) -> tuple[int, bool]:
    """Past the ',' (or the closing bracket) that must follow a value: (next position, closed?)."""
    i = _WS.match(text, i).end()
    if text[i:i + 1] == ",":
        return _WS.match(text, i + 1).end(), False
    if text[i:i + 1] == close:
        return i + 1, True
    raise ValueError(f"expected ',' or '{close}'")


def parse_page_text(text: str) -> tuple[Any, list[str | None] | None]:
    """A /services page parsed once, with the JSON text of each item of its ``contents`` /
    ``content`` list (so raw records are stored as served, not re-serialised). Returns
    (document, item texts), or (document, None) when the page is not an object with such a list.
    An item's text is None where it cannot be stored as it is (see ``storable_text``).
    Raises ValueError on anything but plain JSON; the caller then parses it the lenient way."""
    try:
        # Strict first: a page that passes holds no raw control character in any string, so
        # its items need no scan for them (most pages); NaN and Infinity are noticed as parsed.
        return _parse_page_text(text, strict=True)
    except ValueError:
        return _parse_page_text(text, strict=False)


def _sequence(text: str, i: int, close: str, read_one) -> int:
    """Past the values of an object or array whose opening bracket ends just before ``i``:
    ``read_one(i)`` reads the value (or member) at ``i`` and returns where it ends."""
    i = _WS.match(text, i).end()
    if text[i:i + 1] == close:
        return i + 1
    while True:
        i, closed = _after_value(text, read_one(i), close)
        if closed:
            return i


def _parse_page_text(text: str, strict: bool) -> tuple[Any, list[str | None] | None]:
    constants: list[str] = []

    def constant(name: str) -> float:
        constants.append(name)
        return float(name)

    decode = json.JSONDecoder(strict=strict, parse_constant=constant).raw_decode
    storable = _storable_strict_text if strict else storable_text
    i = _WS.match(text, 0).end()
    if text[i:i + 1] != "{":
        return json.loads(text, strict=False), None
    doc: dict = {}
    texts_by_key: dict[str, list[str | None]] = {}

    def read_item(i: int, items: list, texts: list[str | None]) -> int:
        item, end = decode(text, i)
        items.append(item)
        if constants:
            texts.append(None)  # NaN or Infinity: not JSON to DuckDB
            constants.clear()
        else:
            texts.append(text[i:end] if storable(text[i:end]) else None)
        return end

    def read_member(i: int) -> int:
        key, i = decode(text, i)
        if not isinstance(key, str):
            raise ValueError("object key is not a string")
        i = _WS.match(text, i).end()
        if text[i:i + 1] != ":":
            raise ValueError("expected ':'")
        i = _WS.match(text, i + 1).end()
        if key in ("contents", "content") and text[i:i + 1] == "[":
            items: list = []
            texts: list[str | None] = []
            i = _sequence(text, i + 1, "]", lambda j: read_item(j, items, texts))
            doc[key], texts_by_key[key] = items, texts
            return i
        doc[key], i = decode(text, i)
        texts_by_key.pop(key, None)
        return i

    i = _sequence(text, i + 1, "}", read_member)
    if _WS.match(text, i).end() != len(text):
        raise ValueError("extra data after the page")
    key = "contents" if isinstance(doc.get("contents"), list) else "content"
    return doc, texts_by_key.get(key)


def _storable_strict_text(text: str) -> bool:
    """``storable_text`` for an item the strict parser took: no string in it holds a raw control
    character, so only whitespace between its tokens and ``\\u`` escapes remain to be checked."""
    return "\\u" not in text and "\n" not in text and "\r" not in text and "\t" not in text


def parse_page_body(body: bytes, url: str) -> tuple[Any, list[str | None] | None]:
    """(document, item texts) of a /services page: parsed once (``parse_page_text``) when it is
    plain JSON, else the lenient way (``parse_json_body``: BOM, control characters, HTML pages)."""
    if not looks_like_html(body):
        try:
            return parse_page_text(decode_body(body).strip())
        except (ValueError, IndexError):
            pass
    return parse_json_body(body, url), None


def storable_text(text: str) -> bool:
    """Can an item's served text be stored as its raw payload? Not with raw control characters
    (valid only to our lenient parser, not to DuckDB's JSON type), nor NaN/Infinity, nor
    ``\\u`` escapes (which make ``normalise`` repair every string, to be safe)."""
    if "NaN" in text or "Infinity" in text:
        return False
    if "\\u" in text:  # \u escapes: re-serialised without them, so normalising needs no full repair pass
        return False
    return text.isprintable() or not _RAW_CONTROL.search(text)  # isprintable: a quick "no control characters"


_STRICT_JSON = json.JSONDecoder()  # strict: a raw control character in a string fails it


_LENIENT_JSON = json.JSONDecoder(strict=False)


def parse_raw_text(text: str) -> tuple[Any, bool]:
    """(payload, repair every string?) of a raw record's JSON text, with mojibake already
    repaired in the text when that is all it needs (see ``json_needs_repair``)."""
    # Most records have no \u escape (which may hide control characters) and no DEL. Then the
    # strict parser tells in passing whether any string holds a raw control character (it
    # refuses them), instead of a scan of the text first; mojibake is repaired in the text first.
    if ("\\" not in text or "\\u" not in text) and "\x7f" not in text:
        try:
            if not text.isascii() and json_has_mojibake_hint(text):
                return _STRICT_JSON.decode(repair_mojibake_in_json(text)), False
            return _STRICT_JSON.decode(text), False
        except ValueError:
            pass  # raw control characters (or not JSON at all): the careful way
    deep = json_needs_repair(text)
    if deep == "mojibake":  # only strings with mojibake need it: repair them in the text
        text, deep = repair_mojibake_in_json(text), False
    if text[:1] == "\ufeff":
        return json.loads(text, strict=False), deep  # (for its "Unexpected UTF-8 BOM" message)
    return _LENIENT_JSON.decode(text), deep
