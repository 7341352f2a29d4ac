"""Elasticsearch 8 backend (works with ES 9 through the client's REST compatibility).

One document per page in a versioned index behind the alias ``{prefix}-pages``, which names
exactly one write index. The first index has a fixed name (``{prefix}-pages-000001``) and is
created with its alias in one request, so processes that start together on a new cluster race
on a create that only one wins (the others get ``resource_already_exists_exception`` and use
the winner's): never two indices behind the alias. A rebuild writes a new versioned index
(``{prefix}-pages-{ns}``) and swaps the alias, write flag included, in one ``update_aliases`` call. Mappings are explicit and ``dynamic: strict`` (schemas/index/pages.json).
Terms are ``match_phrase`` queries: with the default ``standard`` analyzer a Han character is one
token, so a phrase query matches a word; ``cjk`` (analysis-common), IK or smartcn are a setting.
The access filter is a ``bool.filter`` clause of the same request.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from elasticsearch import ApiError, BadRequestError, Elasticsearch, NotFoundError, TransportError, helpers

from dissemination.search.base import (
    READERS_VOLUME, Health, IndexPage, IndexReport, RebuildHandle, SearchHit, SearchIndex, SearchQuery,
    SearchResult, check_filters, highlight, is_disclosable_filter, join_han_lines, query_terms,
)
from schemas import load_json
from schemas.errors import Problem, Unavailable

FIRST_INDEX = "000001"
CHUNK_PAGES = 500
CHUNK_BYTES = 10 * 1024 * 1024
_FILTER_FIELDS = {"party": "parties"}
T = TypeVar("T")


def connect(url: str, *, api_key: str | None = None, username: str = "", password: str | None = None,
            ca_cert: Path | None = None, timeout: float = 30.0) -> Elasticsearch:
    """A client with API-key or basic auth and an optional CA certificate; retries on timeouts."""
    options: dict[str, Any] = {"request_timeout": timeout, "retry_on_timeout": True, "max_retries": 3}
    if api_key:
        options["api_key"] = api_key
    elif username:
        options["basic_auth"] = (username, password or "")
    if ca_cert:
        options["ca_certs"] = str(ca_cert)
    return Elasticsearch(url, **options)


def index_body(analyzer: str) -> dict[str, Any]:
    """The mapping of schemas/index/pages.json with ``analyzer`` on the full-text fields."""
    body = copy.deepcopy(load_json("index/pages.json"))
    body.pop("_about", None)
    for field in ("text", "title"):
        body["mappings"]["properties"][field]["analyzer"] = analyzer
    return body


class ElasticsearchIndex(SearchIndex):
    def __init__(self, client: Elasticsearch, *, prefix: str = "juanzong", analyzer: str = "standard",
                 refresh: bool = True) -> None:
        self.es = client
        self.alias = f"{prefix}-pages"
        self.analyzer = analyzer
        self.refresh = refresh  # make writes searchable before returning (the CLI and tests expect it)

    # -- index lifecycle ---------------------------------------------------------------------
    def _new_index(self) -> str:
        name = f"{self.alias}-{time.time_ns()}"
        self.es.indices.create(index=name, **index_body(self.analyzer))
        return name

    def _aliases(self) -> dict[str, bool]:
        """Index behind the alias -> whether it is the write index."""
        try:
            found = self.es.indices.get_alias(name=self.alias)
        except NotFoundError:
            return {}
        return {index: bool(entry["aliases"][self.alias].get("is_write_index"))
                for index, entry in found.items()}

    def _backing(self) -> list[str]:
        return sorted(self._aliases())

    def _checked_aliases(self) -> dict[str, bool]:
        """``_aliases``, or E605 when the alias names several indices and none is its write index."""
        aliases = self._aliases()
        if len(aliases) > 1 and not any(aliases.values()):
            raise Unavailable("E605", self.alias, found=", ".join(sorted(aliases)))
        return aliases

    def _ensure(self) -> None:
        """Make the first index and its alias unless they exist (idempotent, safe when racing)."""
        if self._checked_aliases():
            return
        first = f"{self.alias}-{FIRST_INDEX}"
        try:
            self.es.indices.create(index=first, aliases={self.alias: {"is_write_index": True}},
                                   **index_body(self.analyzer))
        except BadRequestError as exc:
            if exc.error != "resource_already_exists_exception":
                raise
            if not self._aliases():  # the first index outlived its alias: put the alias back
                self.es.indices.update_aliases(actions=[_add_write(first, self.alias)])

    def begin_rebuild(self) -> RebuildHandle:
        return RebuildHandle(name=self._new_index())

    def finish_rebuild(self, handle: RebuildHandle) -> None:
        old = self._backing()
        self.es.indices.refresh(index=handle.name)
        actions = [{"remove": {"index": i, "alias": self.alias}} for i in old]
        self.es.indices.update_aliases(actions=[*actions, _add_write(handle.name, self.alias)])
        for index in old:
            self.es.indices.delete(index=index)

    def reset(self) -> None:
        self.finish_rebuild(self.begin_rebuild())

    # -- writing -----------------------------------------------------------------------------
    def index_pages(self, pages: Iterable[IndexPage], *, target: RebuildHandle | None = None) -> IndexReport:
        if target is None:
            self._ensure()
        index = target.name if target else self.alias
        indexed, errors = 0, []
        for ok, item in helpers.streaming_bulk(
                self.es, _actions(pages, index), chunk_size=CHUNK_PAGES, max_chunk_bytes=CHUNK_BYTES,
                max_retries=5, initial_backoff=1, max_backoff=30, raise_on_error=False,
                raise_on_exception=False):
            if ok:
                indexed += 1
            else:
                errors.append(_item_problem(item))
        if self.refresh:
            self.es.indices.refresh(index=index)
        return IndexReport(indexed=indexed, errors=tuple(errors))

    def delete_aip(self, aip_id: str) -> int:
        """Scroll the AIP's page ids and bulk-delete them: core APIs only (``_delete_by_query``
        lives in the reindex module, which a classpath node does not have)."""
        self._ensure()
        ids = helpers.scan(self.es, index=self.alias, query={"query": {"term": {"aip_id": aip_id}}},
                           _source=False, size=1000)
        actions = ({"_op_type": "delete", "_index": hit["_index"], "_id": hit["_id"]} for hit in ids)
        deleted = sum(ok for ok, _ in helpers.streaming_bulk(
            self.es, actions, chunk_size=CHUNK_PAGES, max_retries=5, raise_on_error=False))
        self.es.indices.refresh(index=self.alias)
        return deleted

    # -- reading -----------------------------------------------------------------------------
    def check_live(self) -> None:
        """The alias and its write index as a search needs them, never created on the way (a
        search that re-created a deleted index answered "0 hits" for an archive that holds
        pages): no alias and no index of ours is E610; an alias gone while its indices remain,
        or an index under the alias's own name, is E611 (a closed backing index is E611 when the
        read finds it so); an alias without a write index is E605. Each names ``juanzong reindex``."""
        if self._checked_aliases():
            return
        left = sorted(self.es.indices.get(index=f"{self.alias},{self.alias}-*", allow_no_indices=True,
                                          ignore_unavailable=True, expand_wildcards="all"))
        if not left:
            raise Unavailable("E610", self.alias)
        raise Unavailable("E611", self.alias, reason=f"no alias; indices without it: {', '.join(left)}"[:200])

    def search(self, query: SearchQuery) -> SearchResult:
        return self._answering(lambda: self._search(query))

    def _answering(self, read: Callable[[], T]) -> T:
        try:
            return read()
        except NotFoundError as exc:  # the alias went between the check and the read
            raise Unavailable("E610", self.alias) from exc
        except BadRequestError as exc:
            if exc.error != "index_closed_exception":
                raise
            raise Unavailable("E611", self.alias, reason=f"backing index closed: {exc}"[:200]) from exc
        except TransportError as exc:  # the cluster does not answer: the caller may retry (503)
            raise Unavailable("E603", self.alias, reason=f"{type(exc).__name__}: {exc}"[:200]) from exc

    def _search(self, query: SearchQuery) -> SearchResult:
        self.check_live()
        terms = query_terms(query.text)
        resp = self.es.search(index=self.alias, query=_query(query, terms), from_=query.offset,
                              size=query.size, track_total_hits=True,
                              source_includes=["aip_id", "case_number", "document_id", "source_path",
                                               "title", "page", "text"],
                              sort=None if terms else ["case_number", "document_id", "page"])
        hits = tuple(SearchHit(score=float(h["_score"] or 0.0), highlight=highlight(h["_source"]["text"], terms),
                               **{k: h["_source"][k] for k in ("aip_id", "case_number", "document_id",
                                                               "source_path", "title", "page")})
                     for h in resp["hits"]["hits"])
        return SearchResult(total=int(resp["hits"]["total"]["value"]), hits=hits)

    def count(self, query: SearchQuery) -> int:
        return self._answering(lambda: self._count(query))

    def _count(self, query: SearchQuery) -> int:
        self.check_live()
        return int(self.es.count(index=self.alias, query=_query(query, query_terms(query.text)))["count"])

    def health(self) -> Health:
        try:
            status = self.es.cluster.health(timeout="2s")["status"]
            backing = self._backing()
        except (ApiError, TransportError) as exc:
            return Health(ok=False, detail=f"{self.alias}: {exc}")
        return Health(ok=status in ("green", "yellow"),
                      detail=f"elasticsearch cluster {status}; {self.alias} -> {', '.join(backing) or 'none yet'}")


def _add_write(index: str, alias: str) -> dict[str, Any]:
    return {"add": {"index": index, "alias": alias, "is_write_index": True}}


def _actions(pages: Iterable[IndexPage], index: str) -> Iterator[dict[str, Any]]:
    """Bulk actions made one page at a time, so memory stays within one chunk."""
    for page in pages:
        source = page.model_dump(mode="json")
        source["text"] = join_han_lines(page.text)
        yield {"_op_type": "index", "_index": index, "_id": page.key, "_source": source}


def _item_problem(item: dict[str, Any]) -> Problem:
    detail = item.get("index", item)
    error = detail.get("error", detail)
    reason = error.get("reason", str(error)) if isinstance(error, dict) else str(error)
    return Problem.of("E601", str(detail.get("_id", "?")), reason=reason)


def _term_clause(term: str) -> dict[str, Any]:
    return {"bool": {"minimum_should_match": 1, "should": [
        {"match_phrase": {"text": term}}, {"match_phrase": {"title": term}},
        {"term": {"case_number": term}}]}}


def _query(query: SearchQuery, terms: list[str]) -> dict[str, Any]:
    check_filters(query.filters)
    filters: list[dict[str, Any]] = []
    if not query.access.all_cases:
        filters.append({"terms": {"case_number": list(query.access.case_numbers)}})
    if query.access.readers_view:
        filters += [{"term": {"volume": READERS_VOLUME}}, {"term": {"disclosable": True}}]
    if query.case_number is not None:
        filters.append({"term": {"case_number": query.case_number}})
    for name, value in query.filters.items():
        field = _FILTER_FIELDS.get(name, name)
        filters.append({"term": {field: is_disclosable_filter(value) if name == "disclosable" else value}})
    must = [_term_clause(t) for t in terms] or [{"match_all": {}}]
    return {"bool": {"must": must, "filter": filters}}
