"""The search-index interface, its records, and what both backends share: query parsing,
CJK bigram tokens and highlighting.

Every query carries an ``Access``; backends apply it inside the query (zero-score clauses of the
tantivy boolean query, an ES bool filter), never by post-filtering a page of hits, so totals,
counts and highlights of a reader never include 副卷 or non-disclosable pages or other cases.
Highlights are cut from the hit's own stored text in Python, so both backends return the same
snippet shape (ES's standard analyzer makes one token per Han character and would highlight
``<em>原</em><em>告</em>``).
"""

from __future__ import annotations

import html
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from datetime import date

from pydantic import BaseModel, ConfigDict

from schemas.errors import InputRejected, Problem

READERS_VOLUME = "正卷"
SNIPPET_CHARS = 80
FILTER_FIELDS = ("court", "case_type", "cause_of_action", "volume", "doc_type", "disclosable", "party",
                 "aip_id", "document_id")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class IndexPage(_Frozen):
    """One page of one document, with the case metadata people filter by."""

    aip_id: str
    case_number: str
    document_id: str
    source_path: str
    title: str
    page: int
    text: str
    court: str
    case_type: str
    cause_of_action: str
    volume: str
    disclosable: bool
    doc_type: str
    parties: tuple[str, ...]
    filing_date: date | None = None
    closing_date: date | None = None

    @property
    def key(self) -> str:
        """Stable id of the page in the index: re-indexing a page replaces it."""
        return f"{self.document_id}:{self.page}"


class Access(_Frozen):
    """Who is asking; built by ``dissemination.search_access.access_for``."""

    all_cases: bool = False  # archivists
    case_numbers: tuple[str, ...] = ()  # cases a reader is authorised for
    readers_view: bool = True  # only disclosable 正卷 pages when True


class SearchQuery(_Frozen):
    """Whitespace-separated terms, all required, each matched as a phrase; empty text lists all."""

    text: str
    access: Access
    case_number: str | None = None
    filters: dict[str, str] = {}
    offset: int = 0
    size: int = 10


class SearchHit(_Frozen):
    aip_id: str
    case_number: str
    document_id: str
    source_path: str
    title: str
    page: int
    score: float
    highlight: str


class SearchResult(_Frozen):
    total: int
    hits: tuple[SearchHit, ...]


class IndexReport(_Frozen):
    """What one ``index_pages`` call did; ``errors`` names each rejected page (code E601)."""

    indexed: int
    errors: tuple[Problem, ...] = ()


class Health(_Frozen):
    ok: bool
    detail: str


class RebuildHandle(_Frozen):
    """A new index being built beside the live one (a versioned ES index, or a new db file)."""

    name: str


class SearchIndex(ABC):
    """Full-text index of archived pages. Runs in the indexing task, the CLI and the API; it
    never reads the storage root or the catalog (``from_aip`` builds its pages)."""

    @abstractmethod
    def index_pages(self, pages: Iterable[IndexPage], *, target: RebuildHandle | None = None) -> IndexReport:
        """Add or replace pages in bounded-size batches; a bad page is reported, not raised."""

    @abstractmethod
    def delete_aip(self, aip_id: str) -> int:
        """Remove every page of the AIP; returns how many were removed."""

    @abstractmethod
    def search(self, query: SearchQuery) -> SearchResult:
        """One page of hits, best first, access-filtered in the backend query."""

    @abstractmethod
    def count(self, query: SearchQuery) -> int:
        """How many pages match, under the same access filter as ``search``."""

    @abstractmethod
    def check_live(self) -> None:
        """Raise E610 when the live index is missing, E611 when it is damaged (both name
        ``juanzong reindex``); creates nothing. ``search`` and ``count`` check this first, so a
        lost index is never answered as an empty one; whether an archive without pages may have
        no index yet is the caller's to know (the catalog), not the backend's."""

    @abstractmethod
    def health(self) -> Health:
        """Never raises: an unreachable index is ``ok=False`` with the reason."""

    @abstractmethod
    def reset(self) -> None:
        """Drop every page (tests and a full rebuild start from here)."""

    @abstractmethod
    def begin_rebuild(self) -> RebuildHandle:
        """Start an empty index beside the live one; searches keep using the live one."""

    @abstractmethod
    def finish_rebuild(self, handle: RebuildHandle) -> None:
        """Atomically make the rebuilt index the live one and drop the old."""


_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUN = re.compile(rf"[{_HAN}]+|[^\W_{_HAN}]+")
_HAN_RUN = re.compile(rf"[{_HAN}]+")


_HAN_GAP = re.compile(rf"(?<=[{_HAN}])\s+(?=[{_HAN}])")


def join_han_lines(text: str) -> str:
    """Layout lines break words (原\n告); Chinese has no spaces, so whitespace between two Han
    characters is dropped before analysis, by both backends."""
    return _HAN_GAP.sub("", text)


def cjk_tokens(text: str) -> list[str]:
    """Han runs -> overlapping bigrams (the char itself for a 1-char run); other letter/digit
    runs -> one lower-cased token. Used at index and at query time, so phrases line up."""
    tokens: list[str] = []
    for run in _RUN.findall(join_han_lines(text)):
        if _HAN_RUN.fullmatch(run):
            tokens.extend([run] if len(run) == 1 else [run[i:i + 2] for i in range(len(run) - 1)])
        else:
            tokens.append(run.lower())
    return tokens


def query_terms(text: str) -> list[str]:
    """Whitespace-separated terms, each searched as one phrase; terms without letters dropped."""
    return [t for t in text.split() if _RUN.search(t)]


def check_filters(filters: dict[str, str]) -> None:
    """Unknown filter names are a caller's mistake (E602), not an empty result."""
    for name in filters:
        if name not in FILTER_FIELDS:
            raise InputRejected("E602", name, found=name, expected=", ".join(FILTER_FIELDS))


def is_disclosable_filter(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "是")


def highlight(text: str, terms: Iterable[str], width: int = SNIPPET_CHARS) -> str:
    """A ~``width``-char snippet around the first match, every match wrapped in <em>...</em>,
    the rest HTML-escaped. Matching ignores case and whitespace inside the stored text."""
    spans = list(_match_spans(text, [t for t in terms if t]))
    if not spans:
        return html.escape(_squash(text[:width]))
    first = spans[0][0]
    start = max(0, first - width // 4)
    end = min(len(text), start + width)
    pieces, cursor = [], start
    for s, e in spans:
        if s < cursor or e > end:
            continue
        pieces += [html.escape(text[cursor:s]), "<em>", html.escape(text[s:e]), "</em>"]
        cursor = e
    pieces.append(html.escape(text[cursor:end]))
    return _squash("".join(pieces))


def _match_spans(text: str, terms: list[str]) -> Iterator[tuple[int, int]]:
    if not terms:
        return iter(())
    patterns = sorted({r"\s*".join(map(re.escape, t)) for t in terms}, key=len, reverse=True)
    return (m.span() for m in re.finditer("|".join(patterns), text, re.IGNORECASE))


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()
