"""The default index: a tantivy index (Rust, one wheel from PyPI, no server) of precomputed CJK
bigram tokens.

Why this engine: an FTS5 phrase of bigrams finds 2- and 4-character words exactly too, but SQLite
scores bm25 by visiting every match (and counts a phrase's documents for its idf by scanning its
doclist again), so a word on most pages costs 100-400 ms at 100 k pages. Tantivy visits every
match too (totals are exact) but cheaply: document frequencies from its term dictionary,
bit-packed postings, length norms in a column. It takes the same pre-tokenised bigrams through
its ``whitespace`` tokenizer. Figures in the README (benchmarks/search_index.py). The access
filter is a zero-score clause of the same boolean query.

Layout: ``index_dir/LIVE`` names the live index directory. A rebuild writes a new directory beside
it, then ``os.replace``s ``LIVE``; readers notice on their next call and the old one is deleted
(open memory maps keep their files until closed). One writer at a time per directory (tantivy's
lock file), taken per call and released at once, so the CLI, the API and flows can share it.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import tantivy
from tantivy import Occur, Order, Query

from dissemination.search.base import (
    READERS_VOLUME, Access, Health, IndexPage, IndexReport, RebuildHandle, SearchHit, SearchIndex,
    SearchQuery, SearchResult, check_filters, cjk_tokens, highlight, is_disclosable_filter,
    query_terms,
)
from schemas.errors import Problem, Unavailable

POINTER = "LIVE"
META = "meta.json"  # tantivy's index metadata: no index without it
DEFAULT_DIR = "pages"
LEGACY = "pages*.sqlite*"  # the SQLite FTS5 index of earlier versions: rebuilt by `juanzong reindex`
WRITER_HEAP = 64 * 1024 * 1024
WRITER_WAIT_S = 60.0
_KEYWORDS = ("key", "aip_id", "case_number", "document_id", "court", "case_type", "cause_of_action",
             "volume", "doc_type", "parties")
_STORED = ("aip_id", "case_number", "document_id", "source_path", "title", "page", "text")
_FILTER_FIELDS = {"party": "parties"}


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("tokens", tokenizer_name="whitespace", index_option="position")
    for name in _KEYWORDS:
        sb.add_text_field(name, stored=name in _STORED, tokenizer_name="raw", index_option="basic")
    sb.add_boolean_field("disclosable", indexed=True)
    sb.add_text_field("sort_key", fast=True, tokenizer_name="raw", index_option="basic")
    for name in ("source_path", "title", "text"):
        sb.add_text_field(name, stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_unsigned_field("page", stored=True)
    return sb.build()


SCHEMA = _schema()


class EmbeddedIndex(SearchIndex):
    def __init__(self, index_dir: Path) -> None:
        self.index_dir = Path(index_dir)
        self._index: tantivy.Index | None = None
        self._index_path: Path | None = None

    @property
    def live_path(self) -> Path:
        """The live index directory: the one ``LIVE`` names, else ``pages/``."""
        pointer = self.index_dir / POINTER
        name = pointer.read_text(encoding="utf-8").strip() if pointer.exists() else DEFAULT_DIR
        return self.index_dir / name

    def _live(self) -> tantivy.Index:
        """The live index, reopened when a rebuild has swapped it, reloaded to see new commits."""
        path = self.live_path
        if self._index is None or path != self._index_path:
            self._index, self._index_path = _open(path), path
        else:
            self._index.reload()
        return self._index

    def _target(self, target: RebuildHandle | None) -> tantivy.Index:
        return self._live() if target is None else _open(Path(target.name))

    # -- writing -----------------------------------------------------------------------------
    def index_pages(self, pages: Iterable[IndexPage], *, target: RebuildHandle | None = None) -> IndexReport:
        """Each page replaces the one with its key; one commit for the call (the writer's heap
        bounds memory: it flushes segments as it fills; committing every few hundred pages made
        foreground merges cut indexing to a third)."""
        index = self._target(target)
        indexed, errors = 0, []
        with _writer(index) as writer:
            for page in pages:
                try:
                    writer.delete_documents_by_term("key", page.key)
                    writer.add_document(_document(page))
                    indexed += 1
                except ValueError as exc:
                    errors.append(Problem.of("E601", f"{page.source_path}#p{page.page}", reason=str(exc)))
        return IndexReport(indexed=indexed, errors=tuple(errors))

    def delete_aip(self, aip_id: str) -> int:
        index = self._live()
        n = _count(index.searcher(), Query.term_query(SCHEMA, "aip_id", aip_id))
        if n:
            with _writer(index) as writer:
                writer.delete_documents_by_term("aip_id", aip_id)
        return n

    def reset(self) -> None:
        with _writer(self._live()) as writer:
            writer.delete_all_documents()

    def begin_rebuild(self) -> RebuildHandle:
        path = self.index_dir / f"pages-{time.time_ns()}"
        _open(path)
        return RebuildHandle(name=str(path))

    def finish_rebuild(self, handle: RebuildHandle) -> None:
        """Point ``LIVE`` at the new directory, then delete the old one and any legacy SQLite file."""
        new, old = Path(handle.name), self.live_path
        tmp = self.index_dir / f"{POINTER}.tmp"
        tmp.write_text(new.name + "\n", encoding="utf-8")
        os.replace(tmp, self.index_dir / POINTER)
        if old != new:
            shutil.rmtree(old, ignore_errors=True)
        for legacy in self.index_dir.glob(LEGACY):
            legacy.unlink(missing_ok=True)

    # -- reading -----------------------------------------------------------------------------
    def check_live(self) -> None:
        self._searcher()

    def _searcher(self) -> tantivy.Searcher:
        """The live index's searcher, never made empty on the way: a missing index is E610 and
        one tantivy cannot read is E611, both naming ``juanzong reindex`` (searching a silently
        re-created empty index answered "0 hits" for an archive that holds pages)."""
        path = self.live_path
        if not (path / META).is_file():
            raise Unavailable("E610", str(path))
        try:
            return self._live().searcher()
        except (OSError, ValueError) as exc:
            self._index = None
            raise Unavailable("E611", str(path), reason=f"{type(exc).__name__}: {exc}"[:200]) from exc

    def search(self, query: SearchQuery) -> SearchResult:
        """Best first by BM25; with no words, in 案号, document, page order (as Elasticsearch)."""
        terms = query_terms(query.text)
        searcher = self._searcher()
        tq = _query(query, terms)
        if query.size <= 0:
            return SearchResult(total=_count(searcher, tq), hits=())
        order = {} if terms else {"order_by_field": "sort_key", "order": Order.Asc}
        result = searcher.search(tq, query.size, count=True, offset=query.offset, **order)
        hits = []
        for key, address in result.hits:
            doc = searcher.doc(address)
            hits.append(SearchHit(score=float(key) if terms else 0.0, highlight=highlight(doc.get_first("text"), terms),
                                  **{k: doc.get_first(k) for k in _STORED if k != "text"}))
        return SearchResult(total=result.count, hits=tuple(hits))

    def count(self, query: SearchQuery) -> int:
        return _count(self._searcher(), _query(query, query_terms(query.text)))

    def health(self) -> Health:
        try:
            n = self._live().searcher().num_docs
        except (OSError, ValueError) as exc:
            return Health(ok=False, detail=f"{self.live_path}: {exc}")
        if n == 0 and any(self.index_dir.glob(LEGACY)):
            return Health(ok=False, detail=f"{self.index_dir}: an SQLite index of an earlier version; "
                                           "run `juanzong reindex`")
        return Health(ok=True, detail=f"embedded tantivy index at {self.live_path}: {n} pages")


def _open(path: Path) -> tantivy.Index:
    path.mkdir(parents=True, exist_ok=True)
    return tantivy.Index(SCHEMA, path=str(path), reuse=True)


@contextmanager
def _writer(index: tantivy.Index) -> Iterator[tantivy.IndexWriter]:
    """The directory's one writer, waited for while another process holds it; committed and
    released on leaving (rolled back on an exception)."""
    deadline, pause = time.monotonic() + WRITER_WAIT_S, 0.02
    while True:
        try:
            writer = index.writer(heap_size=WRITER_HEAP, num_threads=1)
            break
        except ValueError as exc:
            if "LockBusy" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
    try:
        yield writer
        writer.commit()
    except BaseException:
        writer.rollback()
        raise
    finally:
        writer.wait_merging_threads()  # also releases the lock
    index.reload()


def _document(page: IndexPage) -> tantivy.Document:
    doc = tantivy.Document()
    doc.add_text("tokens", " ".join(cjk_tokens(f"{page.title}\n{page.case_number}\n{page.text}")))
    doc.add_text("key", page.key)
    for name in ("aip_id", "case_number", "document_id", "court", "case_type", "cause_of_action",
                 "volume", "doc_type", "source_path", "title", "text"):
        doc.add_text(name, getattr(page, name))
    for party in page.parties:
        doc.add_text("parties", party)
    doc.add_boolean("disclosable", page.disclosable)
    doc.add_unsigned("page", page.page)
    doc.add_text("sort_key", f"{page.case_number}\x00{page.document_id}\x00{page.page:08d}")
    return doc


def _count(searcher: tantivy.Searcher, query: tantivy.Query) -> int:
    return searcher.search(query, 1, count=True).count


def _phrase(term: str) -> tantivy.Query:
    tokens = cjk_tokens(term)  # never empty for a term ``query_terms`` kept
    if len(tokens) == 1 and len(tokens[0]) == 1 and not tokens[0].isascii():
        return Query.phrase_prefix_query(SCHEMA, "tokens", tokens)  # one Han char: bigrams starting with it
    if len(tokens) == 1:
        return Query.term_query(SCHEMA, "tokens", tokens[0])
    return Query.phrase_query(SCHEMA, "tokens", tokens)


def _access_filters(access: Access) -> list[tantivy.Query]:
    filters = []
    if not access.all_cases:
        filters.append(Query.term_set_query(SCHEMA, "case_number", list(access.case_numbers))
                       if access.case_numbers else Query.empty_query())
    if access.readers_view:
        filters += [Query.term_query(SCHEMA, "volume", READERS_VOLUME),
                    Query.term_query(SCHEMA, "disclosable", True)]
    return filters


def _query(query: SearchQuery, terms: list[str]) -> tantivy.Query:
    """Access first, then 案号 and filters as zero-score clauses, and every term as a phrase."""
    check_filters(query.filters)
    filters = _access_filters(query.access)
    if query.case_number is not None:
        filters.append(Query.term_query(SCHEMA, "case_number", query.case_number))
    for name, value in query.filters.items():
        field = _FILTER_FIELDS.get(name, name)
        filters.append(Query.term_query(SCHEMA, field, is_disclosable_filter(value)
                                        if name == "disclosable" else value))
    clauses = [(Occur.Must, _phrase(t)) for t in terms] + [(Occur.Must, Query.const_score_query(f, 0.0))
                                                  for f in filters]
    if not clauses:
        return Query.all_query()
    return Query.boolean_query(clauses)
