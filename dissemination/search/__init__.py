"""Full-text search over archived pages: one interface (``base.SearchIndex``), two backends
(``embedded`` tantivy, ``elasticsearch``), chosen by ``registry.open_index``."""

from dissemination.search.base import (
    Access, Health, IndexPage, IndexReport, RebuildHandle, SearchHit, SearchIndex, SearchQuery, SearchResult,
)

__all__ = ["Access", "Health", "IndexPage", "IndexReport", "RebuildHandle", "SearchHit", "SearchIndex",
           "SearchQuery", "SearchResult"]
