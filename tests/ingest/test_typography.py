"""Typographic repair of recognised text: each rule on the slips Tesseract makes on the corpus."""

from __future__ import annotations

from pathlib import Path

from ingest.ocr._text_layer import read_hocr
from ingest.ocr.typography import join_words, repair, repair_hocr


def test_angle_bracket_closed_by_round_bracket_becomes_round() -> None:
    assert repair("总价为220,283元〈含税)。") == "总价为220,283元（含税)。"
    assert repair("案号:<2021)粤0104民初26986号") == "案号:（2021)粤0104民初26986号"


def test_title_marks_nested_in_title_marks_become_single_angle_brackets() -> None:
    read = "依照《最高人民法院关于适用《中华人民共和国民事诉讼法》的解释》第九十条"
    assert repair(read) == "依照《最高人民法院关于适用〈中华人民共和国民事诉讼法〉的解释》第九十条"
    assert repair("《民法典》与《合同法》") == "《民法典》与《合同法》"


def test_unpaired_quotes_are_dropped_and_pairs_kept() -> None:
    assert repair("审判长”朱秀，审判员“杨杰海") == "审判长朱秀，审判员杨杰海"
    assert repair("原告称：“被告欠款。”本院认为") == "原告称：“被告欠款。”本院认为"


def test_words_join_like_tesseract_text_output() -> None:
    assert join_words(["合议", "庭", "评", "议", "笔", "录"]) == "合议庭评议笔录"
    assert join_words(["时", "间", ":", "2024", "年"]) == "时间 : 2024 年"
    assert join_words(["No.", "4401"]) == "No. 4401"


def test_table_rules_are_dropped_and_nothing_else_changes() -> None:
    assert repair("| 送达文书 | 件数 |") == " 送达文书  件数 "
    plain = "广东省广州市中级人民法院民事判决书（2021）粤01民终14218号"
    assert repair(plain) == plain


HOCR = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
    "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">
 <head><title></title><meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>
  <meta name='ocr-system' content='tesseract 5.3.0'/></head>
 <body>
  <div class='ocr_page' id='page_1' title='image "p.pgm"; bbox 0 0 1654 2339; ppageno 0'>
   <div class='ocr_carea' id='block_1_1' title="bbox 100 100 900 200">
    <p class='ocr_par' id='par_1_1' lang='chi_sim' title="bbox 100 100 900 200">
     <span class='ocr_line' id='line_1_1' title="bbox 100 100 900 140; baseline 0 0; x_size 40">
      <span class='ocrx_word' id='word_1_1' title='bbox 100 100 300 140; x_wconf 90'>审判长”朱秀</span>
      <span class='ocrx_word' id='word_1_2' title='bbox 320 100 340 140; x_wconf 20'>|</span>
      <span class='ocrx_word' id='word_1_3' title='bbox 360 100 600 140; x_wconf 91'>利息〈以</span>
     </span>
     <span class='ocr_line' id='line_1_2' title="bbox 100 160 900 200; baseline 0 0; x_size 40">
      <span class='ocrx_word' id='word_1_4' title='bbox 100 160 500 200; x_wconf 88'>336,230元为基数)</span>
     </span>
    </p>
   </div>
  </div>
 </body>
</html>
"""


def test_hocr_is_repaired_in_place_and_stays_readable_by_the_text_layer_renderer(tmp_path: Path) -> None:
    hocr = tmp_path / "page.hocr"
    hocr.write_text(HOCR, encoding="utf-8")
    assert repair_hocr(hocr) == "审判长朱秀利息（以\n336,230元为基数)\n"
    assert "利息（以" in hocr.read_text(encoding="utf-8") and "|" not in hocr.read_text(encoding="utf-8")
    _page, lines = read_hocr(hocr)  # as the text layer's renderer reads it: full width kept
    words = [text for line in lines for text, _box in line.words]
    assert words == ["审判长朱秀", "利息（以", "336,230元为基数)"]
