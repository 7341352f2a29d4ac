"""The search contract: the same tests against every backend (see conftest ``empty_index``),
on real generated case files. Expected counts come from the ground-truth text itself."""

from __future__ import annotations

import re

import pytest

from dissemination.search.base import Access, IndexPage, SearchIndex, SearchQuery, join_han_lines
from schemas.errors import InputRejected, Unavailable
from tests.search.conftest import damage_index, lose_index
from tests.search.corpus import known_item_phrases

ARCHIVIST = Access(all_cases=True, readers_view=False)


def q(text: str = "", access: Access = ARCHIVIST, **kw) -> SearchQuery:
    return SearchQuery(text=text, access=access, **kw)


def contains(page: IndexPage, word: str) -> bool:
    return word in join_han_lines(page.text) or word in page.title


def cases(pages: list[IndexPage]) -> list[str]:
    return sorted({p.case_number for p in pages})


def all_hits(index: SearchIndex, query: SearchQuery, size: int = 7) -> list:
    hits, offset = [], 0
    while True:
        page = index.search(query.model_copy(update={"offset": offset, "size": size}))
        hits += page.hits
        offset += size
        if not page.hits or offset >= page.total:
            return hits


def test_health(index: SearchIndex) -> None:
    assert index.health().ok


@pytest.mark.parametrize("word", ["原告", "被告", "诉讼请求", "本院认为"])
def test_two_and_four_character_words_match_exactly_the_pages_that_contain_them(
        index: SearchIndex, pages: list[IndexPage], word: str) -> None:
    expected = {p.key for p in pages if contains(p, word)}
    assert expected, f"corpus has no page with {word}"
    hits = all_hits(index, q(word))
    assert {f"{h.document_id}:{h.page}" for h in hits} == expected
    assert index.count(q(word)) == len(expected)


def test_case_number_filter_is_exact(index: SearchIndex, pages: list[IndexPage]) -> None:
    for case in cases(pages):
        n = sum(p.case_number == case for p in pages)
        result = index.search(q(case_number=case, size=100))
        assert result.total == n and {h.case_number for h in result.hits} == {case}
    assert index.count(q(case_number=cases(pages)[0][:-1])) == 0


def test_case_number_as_text_finds_its_case(index: SearchIndex, pages: list[IndexPage]) -> None:
    case = cases(pages)[1]
    hits = index.search(q(case, size=50)).hits
    assert hits and {h.case_number for h in hits} == {case}


def test_party_name_as_text_and_as_filter(index: SearchIndex, pages: list[IndexPage]) -> None:
    for case in cases(pages):
        party = next(p for p in pages if p.case_number == case).parties[-1]
        hits = all_hits(index, q(party))
        assert hits and {h.case_number for h in hits} == {case}
        assert index.count(q(filters={"party": party})) == sum(p.case_number == case for p in pages)


def test_filters_on_keyword_fields(index: SearchIndex, pages: list[IndexPage]) -> None:
    for field, value in [("doc_type", "判决书"), ("court", pages[0].court), ("volume", "副卷"),
                         ("cause_of_action", pages[-1].cause_of_action)]:
        expected = {p.key for p in pages if getattr(p, field) == value}
        assert {f"{h.document_id}:{h.page}" for h in all_hits(index, q(filters={field: value}))} == expected
    judged = sum(p.doc_type == "判决书" and contains(p, "原告") for p in pages)
    assert index.count(q("原告", filters={"doc_type": "判决书"})) == judged > 0
    assert index.count(q(filters={"disclosable": "false"})) == sum(not p.disclosable for p in pages)


def test_unknown_filter_is_rejected_with_its_code(index: SearchIndex) -> None:
    with pytest.raises(InputRejected) as err:
        index.search(q("原告", filters={"colour": "red"}))
    assert err.value.code == "E602"


def test_paging_walks_every_hit_once_in_order(index: SearchIndex) -> None:
    total = index.count(q("原告"))
    hits = all_hits(index, q("原告"), size=4)
    keys = [f"{h.document_id}:{h.page}" for h in hits]
    assert len(keys) == len(set(keys)) == total > 8
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert index.search(q("原告", offset=total, size=5)).hits == ()


def test_highlight_wraps_the_words_in_a_short_snippet(index: SearchIndex) -> None:
    for hit in index.search(q("诉讼请求 原告", size=10)).hits:
        assert "<em>诉讼请求</em>" in hit.highlight or "<em>原告</em>" in hit.highlight
        assert len(re.sub(r"</?em>", "", hit.highlight)) <= 90


def test_reindexing_a_page_replaces_it(index: SearchIndex, pages: list[IndexPage]) -> None:
    before = index.count(q())
    report = index.index_pages(pages[:5])
    assert report.indexed == 5 and index.count(q()) == before == len(pages)


def test_delete_aip_removes_every_page_of_the_case(index: SearchIndex, pages: list[IndexPage]) -> None:
    gone = pages[0]
    n = sum(p.aip_id == gone.aip_id for p in pages)
    assert index.delete_aip(gone.aip_id) == n
    assert index.count(q(case_number=gone.case_number)) == 0
    assert index.count(q()) == len(pages) - n
    assert index.delete_aip(gone.aip_id) == 0


def test_rebuild_swaps_only_when_finished(index: SearchIndex, pages: list[IndexPage]) -> None:
    keep = cases(pages)[1]
    handle = index.begin_rebuild()
    index.index_pages([p for p in pages if p.case_number == keep], target=handle)
    assert index.count(q()) == len(pages)
    index.finish_rebuild(handle)
    assert index.count(q()) == sum(p.case_number == keep for p in pages)
    assert {h.case_number for h in index.search(q(size=100)).hits} == {keep}


def test_reset_drops_everything(index: SearchIndex) -> None:
    index.reset()
    assert index.count(q()) == 0 and index.search(q("原告")).total == 0


@pytest.mark.parametrize(("harm", "code"), [(lose_index, "E610"), (damage_index, "E611")],
                         ids=["lost", "damaged"])
def test_a_lost_or_damaged_index_is_named_never_answered_empty(index: SearchIndex, pages: list[IndexPage],
                                                                harm, code: str) -> None:
    """Elasticsearch re-created a deleted index on the next search and answered "0 hits" for an
    archive that holds pages. Every read says what happened and names the rebuild, which mends it."""
    harm(index)
    for read in (index.check_live, lambda: index.search(q("原告")), lambda: index.count(q())):
        with pytest.raises(Unavailable) as refused:
            read()
        assert refused.value.code == code and "juanzong reindex" in str(refused.value)
    handle = index.begin_rebuild()
    index.index_pages(pages, target=handle)
    index.finish_rebuild(handle)
    assert index.count(q()) == len(pages)


# -- access ----------------------------------------------------------------------------------

def reader_of(case: str) -> Access:
    return Access(case_numbers=(case,), readers_view=True)


def test_reader_sees_only_disclosable_main_volume_of_own_case(index: SearchIndex, pages: list[IndexPage]) -> None:
    case, other = cases(pages)
    visible = {p.key for p in pages if p.case_number == case and p.volume == "正卷" and p.disclosable}
    hits = all_hits(index, q(access=reader_of(case)))
    assert {f"{h.document_id}:{h.page}" for h in hits} == visible
    assert index.count(q(access=reader_of(case))) == len(visible)
    assert index.count(q(access=reader_of(case), case_number=other)) == 0
    assert index.count(q(access=Access(case_numbers=(), readers_view=True))) == 0


def test_secondary_volume_never_reaches_a_reader(index: SearchIndex, pages: list[IndexPage]) -> None:
    secret = [p for p in pages if p.volume == "副卷"]
    assert secret, "the corpus should have 合议庭评议笔录 in 副卷"
    word = "评议"
    case = secret[0].case_number
    assert index.count(q(word, access=ARCHIVIST, case_number=case)) > 0
    reader = reader_of(case)
    for text in (word, "合议庭评议笔录", ""):
        result = index.search(q(text, access=reader, size=100))
        assert all("副卷" not in h.source_path and "评议笔录" not in h.title for h in result.hits)
        assert all("评议" not in h.highlight for h in result.hits if text == word)
    assert index.count(q(word, access=reader, filters={"volume": "副卷"})) == 0


def test_non_disclosable_main_volume_page_is_hidden_from_readers(empty_index: SearchIndex,
                                                                 pages: list[IndexPage]) -> None:
    page = pages[0]
    hidden = page.model_copy(update={"document_id": "hidden-doc", "disclosable": False,
                                     "text": "秘密事项备忘：甲乙丙丁戊己"})
    empty_index.index_pages([page, hidden])
    assert empty_index.count(q("甲乙丙丁", access=ARCHIVIST)) == 1
    assert empty_index.count(q("甲乙丙丁", access=reader_of(page.case_number))) == 0
    assert empty_index.count(q(access=reader_of(page.case_number))) == 1


def test_reader_of_one_case_never_sees_another(index: SearchIndex, pages: list[IndexPage]) -> None:
    case, other = cases(pages)
    party_of_other = next(p for p in pages if p.case_number == other).parties[0]
    assert index.count(q(party_of_other, access=reader_of(case))) == 0
    assert index.count(q(other, access=reader_of(case))) == 0
    assert {h.case_number for h in all_hits(index, q("原告", access=reader_of(case)))} == {case}


# -- known-item recall (benchmarks/search_recall.py prints it for a larger batch) -------------

def test_known_item_recall_at_least_98_percent(index: SearchIndex, pages: list[IndexPage]) -> None:
    phrases = known_item_phrases(pages)
    assert len(phrases) == len({p.document_id for p in pages})
    found = sum(doc in {h.document_id for h in index.search(q(phrase, size=10)).hits}
                for doc, phrase in phrases.items())
    assert found / len(phrases) >= 0.98, f"recall {found}/{len(phrases)}"
