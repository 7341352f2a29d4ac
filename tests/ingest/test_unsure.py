"""The unsure words of a page as spans of its text: what the review page marks."""

from __future__ import annotations

from pathlib import Path

from ingest.ocr.typography import repair_hocr, repair_hocr_pieces
from ingest.ocr.unsure import unsure_spans

WORD = "<span class='ocrx_word' title='bbox 0 0 10 10; x_wconf {conf}'>{text}</span>"


def _hocr(path: Path, paragraphs: list[list[list[tuple[str, int]]]]) -> Path:
    body = "".join(
        "<p class='ocr_par'>" + "".join(
            "<span class='ocr_line'>" + "".join(WORD.format(text=t, conf=c) for t, c in line) + "</span>"
            for line in lines) + "</p>"
        for lines in paragraphs)
    path.write_text("<?xml version='1.0' encoding='UTF-8'?><html xmlns='http://www.w3.org/1999/xhtml'><body>"
                    f"<div class='ocr_page'>{body}</div></body></html>", encoding="utf-8")
    return path


def _marked(text: str, spans) -> list[str]:
    return [text[s.start:s.end] for s in spans]


def test_unsure_words_are_spans_of_the_page_text_and_neighbours_join(tmp_path: Path) -> None:
    hocr = _hocr(tmp_path / "p.hocr", [
        [[("原", 95), ("告", 96), ("张", 40), ("三", 42), ("丰", 61), ("诉", 97)],
         [("案号", 93), ("2024", 30), ("年", 91)]],
        [[("No.", 20), ("4401", 90)]],
    ])
    pieces = repair_hocr_pieces(hocr)
    text = "".join(p for p, _ in pieces)
    assert text == "原告张三丰诉\n案号 2024 年\n\nNo. 4401\n" == repair_hocr(hocr)
    spans = unsure_spans(pieces, 80)
    assert _marked(text, spans) == ["张三丰", "2024", "No."]
    assert [s.confidence for s in spans] == [40, 30, 20]  # a joined span keeps its least sure word's
    assert unsure_spans(pieces, 10) == ()


def test_spans_follow_the_typography_repair_of_the_words(tmp_path: Path) -> None:
    """A word the repair empties (a table rule) goes with its confidence: spans stay on the text."""
    hocr = _hocr(tmp_path / "p.hocr", [[[("判", 30), ("|", 10), ("决", 95)]]])
    pieces = repair_hocr_pieces(hocr)
    assert _marked("判决\n", unsure_spans(pieces, 80)) == ["判"]
