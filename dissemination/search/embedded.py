"""The default index: one SQLite file with an FTS5 table of precomputed CJK bigram tokens.

Why this engine: it ships with Python (no server, no extra wheel), an FTS5 phrase of bigrams
finds 2- and 4-character words exactly, and the access filter is plain SQL in the same
statement as the MATCH. Figures in the README (benchmarks/search_index.py). A rebuild writes a
new db file beside the live one, then ``os.replace``s the small ``CURRENT`` file that names the
live db (replacing the db file itself would pair it with the old file's WAL); connections notice
the change on their next call.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

from dissemination.search.base import (
    READERS_VOLUME, Access, Health, IndexPage, IndexReport, RebuildHandle, SearchHit, SearchIndex,
    SearchQuery, SearchResult, check_filters, cjk_tokens, highlight, is_disclosable_filter,
    query_terms,
)
from schemas.errors import Problem

DB_NAME = "pages.sqlite"
POINTER = "CURRENT"
BATCH = 500
_COLUMNS = ("aip_id", "case_number", "document_id", "source_path", "title", "page", "text", "court",
            "case_type", "cause_of_action", "volume", "disclosable", "doc_type", "parties",
            "filing_date", "closing_date")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS pages (
  id INTEGER PRIMARY KEY, aip_id TEXT NOT NULL, case_number TEXT NOT NULL, document_id TEXT NOT NULL,
  source_path TEXT NOT NULL, title TEXT NOT NULL, page INTEGER NOT NULL, text TEXT NOT NULL,
  court TEXT NOT NULL, case_type TEXT NOT NULL, cause_of_action TEXT NOT NULL, volume TEXT NOT NULL,
  disclosable INTEGER NOT NULL, doc_type TEXT NOT NULL, parties TEXT NOT NULL,
  filing_date TEXT, closing_date TEXT, UNIQUE (document_id, page));
CREATE INDEX IF NOT EXISTS pages_aip ON pages (aip_id);
CREATE INDEX IF NOT EXISTS pages_case ON pages (case_number, volume, disclosable);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(tokens, tokenize = 'unicode61 remove_diacritics 0');
"""
_FILTER_SQL = {
    "court": "p.court = ?", "case_type": "p.case_type = ?", "cause_of_action": "p.cause_of_action = ?",
    "volume": "p.volume = ?", "doc_type": "p.doc_type = ?", "aip_id": "p.aip_id = ?",
    "document_id": "p.document_id = ?",
    "party": "EXISTS (SELECT 1 FROM json_each(p.parties) WHERE json_each.value = ?)",
}


class EmbeddedIndex(SearchIndex):
    def __init__(self, index_dir: Path) -> None:
        self.index_dir = Path(index_dir)
        self._conn: sqlite3.Connection | None = None
        self._conn_path: Path | None = None

    @property
    def db_path(self) -> Path:
        """The live db file: the one ``CURRENT`` names, else ``pages.sqlite``."""
        pointer = self.index_dir / POINTER
        name = pointer.read_text(encoding="utf-8").strip() if pointer.exists() else DB_NAME
        return self.index_dir / name

    # -- connections -------------------------------------------------------------------------
    def _live(self) -> sqlite3.Connection:
        """The live file's connection, reopened when a rebuild has swapped the file."""
        path = self.db_path
        if self._conn is None or path != self._conn_path:
            if self._conn is not None:
                self._conn.close()
            self._conn, self._conn_path = _open(path), path
        return self._conn

    def _target(self, target: RebuildHandle | None) -> sqlite3.Connection:
        return self._live() if target is None else _open(Path(target.name))

    # -- writing -----------------------------------------------------------------------------
    def index_pages(self, pages: Iterable[IndexPage], *, target: RebuildHandle | None = None) -> IndexReport:
        conn = self._target(target)
        indexed, errors = 0, []
        try:
            for chunk in _chunks(pages, BATCH):
                with conn:
                    for page in chunk:
                        try:
                            _upsert(conn, page)
                            indexed += 1
                        except (sqlite3.Error, ValueError) as exc:
                            errors.append(Problem.of("E601", f"{page.source_path}#p{page.page}",
                                                     reason=str(exc)))
        finally:
            if target is not None:
                conn.close()
        return IndexReport(indexed=indexed, errors=tuple(errors))

    def delete_aip(self, aip_id: str) -> int:
        conn = self._live()
        with conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM pages WHERE aip_id = ?", (aip_id,))]
            conn.executemany("DELETE FROM fts WHERE rowid = ?", [(i,) for i in ids])
            conn.execute("DELETE FROM pages WHERE aip_id = ?", (aip_id,))
        return len(ids)

    def reset(self) -> None:
        conn = self._live()
        with conn:
            conn.execute("DELETE FROM pages")
            conn.execute("DELETE FROM fts")

    def begin_rebuild(self) -> RebuildHandle:
        path = self.index_dir / f"pages-{time.time_ns()}.sqlite"
        _open(path).close()
        return RebuildHandle(name=str(path))

    def finish_rebuild(self, handle: RebuildHandle) -> None:
        """Point ``CURRENT`` at the new file, then delete the old one (open readers keep it)."""
        new, old = Path(handle.name), self.db_path
        tmp = self.index_dir / f"{POINTER}.tmp"
        tmp.write_text(new.name + "\n", encoding="utf-8")
        os.replace(tmp, self.index_dir / POINTER)
        if old != new:
            for path in (old, Path(f"{old}-wal"), Path(f"{old}-shm")):
                path.unlink(missing_ok=True)

    # -- reading -----------------------------------------------------------------------------
    def search(self, query: SearchQuery) -> SearchResult:
        """Total and ranked page in two statements: a window count in the ranked one would make
        the sorter carry every match's text (measured slower at 100k pages)."""
        terms = query_terms(query.text)
        where, params, match = _where(query, terms)
        conn = self._live()
        total = _count(conn, where, params, match)
        order = "fts.rank" if match else "p.case_number, p.document_id, p.page"
        rows = conn.execute(
            f"SELECT p.aip_id, p.case_number, p.document_id, p.source_path, p.title, p.page, p.text, "
            f"{'-fts.rank' if match else '0.0'} {_from(match)} WHERE {where} "
            f"ORDER BY {order} LIMIT ? OFFSET ?", (*params, query.size, query.offset)).fetchall()
        hits = tuple(SearchHit(aip_id=r[0], case_number=r[1], document_id=r[2], source_path=r[3],
                               title=r[4], page=r[5], score=float(r[7]), highlight=highlight(r[6], terms))
                     for r in rows)
        return SearchResult(total=total, hits=hits)

    def count(self, query: SearchQuery) -> int:
        where, params, match = _where(query, query_terms(query.text))
        return _count(self._live(), where, params, match)

    def health(self) -> Health:
        try:
            n = self._live().execute("SELECT count(*) FROM pages").fetchone()[0]
        except (OSError, sqlite3.Error) as exc:
            return Health(ok=False, detail=f"{self.db_path}: {exc}")
        return Health(ok=True, detail=f"embedded SQLite FTS5 at {self.db_path}: {n} pages")


def _open(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(_SCHEMA)
    return conn


def _chunks(items: Iterable[IndexPage], size: int) -> Iterator[list[IndexPage]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _upsert(conn: sqlite3.Connection, page: IndexPage) -> None:
    old = conn.execute("SELECT id FROM pages WHERE document_id = ? AND page = ?",
                       (page.document_id, page.page)).fetchone()
    if old:
        conn.execute("DELETE FROM fts WHERE rowid = ?", old)
        conn.execute("DELETE FROM pages WHERE id = ?", old)
    row = page.model_dump(mode="json")
    row["parties"] = json.dumps(list(page.parties), ensure_ascii=False)
    row["disclosable"] = int(page.disclosable)
    cur = conn.execute(f"INSERT INTO pages ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                       [row[c] for c in _COLUMNS])
    tokens = cjk_tokens(f"{page.title}\n{page.case_number}\n{page.text}")
    conn.execute("INSERT INTO fts (rowid, tokens) VALUES (?, ?)", (cur.lastrowid, " ".join(tokens)))


def _fts_phrase(term: str) -> str | None:
    tokens = cjk_tokens(term)
    if not tokens:
        return None
    if len(tokens) == 1 and len(tokens[0]) == 1 and not tokens[0].isascii():
        return f'"{tokens[0]}"*'  # one Han char: any bigram starting with it
    return '"' + " ".join(t.replace('"', '""') for t in tokens) + '"'


def _access_sql(access: Access) -> tuple[list[str], list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    if not access.all_cases:
        clauses.append(f"p.case_number IN ({', '.join('?' * len(access.case_numbers)) or 'NULL'})")
        params += access.case_numbers
    if access.readers_view:
        clauses.append("p.volume = ? AND p.disclosable = 1")
        params.append(READERS_VOLUME)
    return clauses, params


def _where(query: SearchQuery, terms: list[str]) -> tuple[str, list[object], str | None]:
    """The WHERE clause: access first, then 案号, filters and the MATCH, all in one statement."""
    check_filters(query.filters)
    clauses, params = _access_sql(query.access)
    if query.case_number is not None:
        clauses.append("p.case_number = ?")
        params.append(query.case_number)
    for name, value in query.filters.items():
        if name == "disclosable":
            clauses.append("p.disclosable = ?")
            params.append(int(is_disclosable_filter(value)))
        else:
            clauses.append(_FILTER_SQL[name])
            params.append(value)
    phrases = [p for p in map(_fts_phrase, terms) if p]
    match = " AND ".join(phrases) or None
    if match:
        clauses.append("fts MATCH ?")
        params.append(match)
    return " AND ".join(clauses) or "1", params, match


def _from(match: str | None) -> str:
    return "FROM fts JOIN pages p ON p.id = fts.rowid" if match else "FROM pages p"


def _count(conn: sqlite3.Connection, where: str, params: list[object], match: str | None) -> int:
    return conn.execute(f"SELECT count(*) {_from(match)} WHERE {where}", params).fetchone()[0]
