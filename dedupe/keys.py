"""Match keys: the normalised forms of names, postcodes and the like that matching compares."""
from __future__ import annotations

import re
import unicodedata

_POSTCODE_RE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)\s*([0-9][A-Z]{2})$")
_NON_ALNUM = re.compile(r"[^a-z0-9 ]+")
_SPACES = re.compile(r"\s+")


def normalise_postcode(value: str | None) -> str | None:
    """'ls11ab' -> 'LS1 1AB'; anything that is not a UK postcode -> None."""
    if not value:
        return None
    s = re.sub(r"[^A-Za-z0-9]", "", str(value)).upper()
    m = _POSTCODE_RE.match(s)
    return f"{m.group(1)} {m.group(2)}" if m else None


def fold(text: str) -> str:
    """Casefold and strip accents, so 'Café' and 'cafe' compare equal."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def normalise_name_basic(name: str | None) -> str | None:
    """Casefold, '&' -> 'and', punctuation to spaces, collapse spaces."""
    if not name:
        return None
    s = fold(str(name)).replace("&", " and ")
    s = _NON_ALNUM.sub(" ", s)
    s = _SPACES.sub(" ", s).strip()
    return s or None
