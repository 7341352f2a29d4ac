"""Shared by the search benchmarks: the Elasticsearch options and a throw-away ES index."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from contextlib import contextmanager


def add_es_options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--es-url", default="", help="also measure Elasticsearch at this URL")
    ap.add_argument("--es-analyzer", default="standard")


@contextmanager
def es_index(args: argparse.Namespace, purpose: str) -> Iterator:
    """An ElasticsearchIndex under a fresh prefix, its indices deleted afterwards."""
    from dissemination.search.elasticsearch import ElasticsearchIndex, connect

    index = ElasticsearchIndex(connect(args.es_url, timeout=120), prefix=f"{purpose}-{time.time_ns()}",
                               analyzer=args.es_analyzer)
    try:
        yield index
    finally:
        for name in index.es.indices.get(index=f"{index.alias}-*"):
            index.es.indices.delete(index=name)
