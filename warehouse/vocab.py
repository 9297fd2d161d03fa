"""Taxonomy identifiers: one canonical form for the LGA (esd) vocabularies, whatever a feed wrote.

ORUK feeds spell the same LGA service type many ways: ``esdServiceTypes:242``,
``esdServiceType:242``, ``http://id.esd.org.uk/service/242``, ``https://id.esd.org.uk/service/242``
or a bare ``242`` with an esd vocabulary beside it. They are one term. This module turns each
into an :class:`EsdTerm` whose ``uri`` is the canonical id (the esd URI, ``http://`` scheme), so
that terms from different sources compare equal.

Public API (used by the ORUK normaliser and the taxonomy/gap work):

    canonical_term(identifier, vocabulary=None) -> EsdTerm | None
        The esd term an identifier stands for, or None when it is not an esd identifier.
    canonical_esd_id(identifier, vocabulary=None) -> str | None
        Shorthand for ``canonical_term(...).uri``.
    esd_vocabulary(name) -> str | None
        The esd list a vocabulary name refers to ("service", "need", "circumstance", ...).
    is_esd_vocabulary(name) -> bool

The esd lists covered: service types (``/service/N``), needs (``/need/N``), circumstances
(``/circumstance/N``) and functions (``/function/N``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

ESD_BASE = "http://id.esd.org.uk"

# esd list (the path segment of its URIs) -> the CURIE prefix placecat writes.
ESD_LISTS: dict[str, str] = {
    "service": "esdServiceTypes",
    "need": "esdNeeds",
    "circumstance": "esdCircumstances",
    "function": "esdFunctions",
}

# Vocabulary names and CURIE prefixes seen in feeds (lower-cased, spaces/underscores/hyphens
# removed) -> esd list. Singular and plural, with and without the "esd" prefix.
_VOCAB_ALIASES: dict[str, str] = {}
for _list, _words in {
    "service": ("esdservicetypes", "esdservicetype", "esdservices", "esdservice", "servicetypes",
                "lgaservicetypes", "lgaservicetype", "lgaserviceslist", "localgovernmentservicelist",
                "localgovernmentserviceslist", "esdserviceslist", "esd", "lgaservices"),
    "need": ("esdneeds", "esdneed", "lganeeds", "needs"),
    "circumstance": ("esdcircumstances", "esdcircumstance", "lgacircumstances", "circumstances"),
    "function": ("esdfunctions", "esdfunction", "lgafunctions"),
}.items():
    for _w in _words:
        _VOCAB_ALIASES[_w] = _list

_URI_RE = re.compile(r"^https?://id\.esd\.org\.uk/(service|need|circumstance|function)s?/(\d+)/?$", re.I)
_CURIE_RE = re.compile(r"^([A-Za-z][A-Za-z _-]*?)\s*:\s*(\d+)$")
_BARE_RE = re.compile(r"^\d+$")


@dataclass(frozen=True)
class EsdTerm:
    """One term of an esd list. ``uri`` is its canonical id."""

    list: str   # service | need | circumstance | function
    code: str   # "242"

    @property
    def uri(self) -> str:
        return f"{ESD_BASE}/{self.list}/{self.code}"

    @property
    def curie(self) -> str:
        return f"{ESD_LISTS[self.list]}:{self.code}"

    @property
    def vocabulary(self) -> str:
        return ESD_LISTS[self.list]


def _squash(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name).lower()


def esd_vocabulary(name: str | None) -> str | None:
    """The esd list a vocabulary name refers to (e.g. "esdServiceType" -> "service"), else None."""
    if not name or not isinstance(name, str):
        return None
    name = name.strip()
    m = re.match(r"^https?://id\.esd\.org\.uk/(?:list/)?(service|need|circumstance|function)s?", name, re.I)
    if m:
        return m.group(1).lower()
    return _VOCAB_ALIASES.get(_squash(name))


def is_esd_vocabulary(name: str | None) -> bool:
    return esd_vocabulary(name) is not None


@lru_cache(maxsize=65536)
def _canonical(identifier: str, vocabulary: str | None) -> EsdTerm | None:
    s = identifier.strip()
    m = _URI_RE.match(s)
    if m:
        return EsdTerm(m.group(1).lower(), str(int(m.group(2))))
    m = _CURIE_RE.match(s)
    if m:
        lst = esd_vocabulary(m.group(1))
        return EsdTerm(lst, str(int(m.group(2)))) if lst else None
    if _BARE_RE.match(s):
        lst = esd_vocabulary(vocabulary)
        return EsdTerm(lst, str(int(s))) if lst else None
    return None


def canonical_term(identifier, vocabulary: str | None = None) -> EsdTerm | None:
    """The esd term ``identifier`` stands for, or None when it is not an esd identifier.

    >>> canonical_term("esdServiceType:242").uri
    'http://id.esd.org.uk/service/242'
    >>> canonical_term("242", vocabulary="esdServiceTypes").curie
    'esdServiceTypes:242'
    >>> canonical_term("242") is None   # a bare number needs an esd vocabulary beside it
    True
    """
    if isinstance(identifier, bool) or identifier is None:
        return None
    if isinstance(identifier, int):
        identifier = str(identifier)
    if not isinstance(identifier, str) or not identifier.strip():
        return None
    return _canonical(identifier, vocabulary if isinstance(vocabulary, str) else None)


def canonical_esd_id(identifier, vocabulary: str | None = None) -> str | None:
    """The canonical id (esd URI) of an esd identifier in any spelling, else None."""
    term = canonical_term(identifier, vocabulary)
    return term.uri if term else None
