"""What only the embedded (tantivy) backend has to get right: one writer per directory shared by
the CLI, the API and flows, readers in other processes following a rebuild, and an index left
by the earlier SQLite backend."""

from __future__ import annotations

import threading
from pathlib import Path

from dissemination.search.base import Access, IndexPage, SearchQuery
from dissemination.search.embedded import EmbeddedIndex, _writer

ALL = SearchQuery(text="", access=Access(all_cases=True, readers_view=False))


def test_a_second_writer_waits_for_the_first_instead_of_failing(tmp_path: Path, pages: list[IndexPage]) -> None:
    first, second = EmbeddedIndex(tmp_path), EmbeddedIndex(tmp_path)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with _writer(first._live()) as writer:
            writer.delete_all_documents()
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    threading.Timer(0.3, release.set).start()
    report = second.index_pages(pages[:3])
    holder.join()
    assert report.indexed == 3 and second.count(ALL) == first.count(ALL) == 3


def test_a_reader_elsewhere_follows_a_rebuild(tmp_path: Path, pages: list[IndexPage]) -> None:
    writer, reader = EmbeddedIndex(tmp_path), EmbeddedIndex(tmp_path)
    writer.index_pages(pages)
    assert reader.count(ALL) == len(pages)
    handle = writer.begin_rebuild()
    writer.index_pages(pages[:4], target=handle)
    writer.finish_rebuild(handle)
    assert reader.count(ALL) == 4 and len(reader.search(ALL.model_copy(update={"size": 50})).hits) == 4
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == [Path(handle.name).name]


def test_an_sqlite_index_of_an_earlier_version_asks_for_reindex(tmp_path: Path, pages: list[IndexPage]) -> None:
    (tmp_path / "pages.sqlite").write_bytes(b"SQLite format 3\x00")
    index = EmbeddedIndex(tmp_path)
    health = index.health()
    assert not health.ok and "juanzong reindex" in health.detail
    handle = index.begin_rebuild()
    index.index_pages(pages[:2], target=handle)
    index.finish_rebuild(handle)
    assert index.health().ok and not (tmp_path / "pages.sqlite").exists()
