"""Pick the search backend named by ``settings.index_backend``."""

from __future__ import annotations

from config import Settings
from dissemination.search.base import SearchIndex


def open_index(settings: Settings) -> SearchIndex:
    """``embedded`` (default) keeps its files under ``settings.index_path``; ``elasticsearch``
    talks to ``settings.es_url`` with the configured auth, prefix and analyzer."""
    if settings.index_backend == "elasticsearch":
        from dissemination.search.elasticsearch import ElasticsearchIndex, connect

        client = connect(
            settings.es_url,
            api_key=settings.es_api_key.get_secret_value() if settings.es_api_key else None,
            username=settings.es_username,
            password=settings.es_password.get_secret_value() if settings.es_password else None,
            ca_cert=settings.es_ca_cert)
        return ElasticsearchIndex(client, prefix=settings.es_index_prefix, analyzer=settings.es_analyzer)
    from dissemination.search.embedded import EmbeddedIndex

    assert settings.index_path is not None  # derived by Settings
    return EmbeddedIndex(settings.index_path)
