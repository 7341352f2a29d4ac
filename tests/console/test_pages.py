"""Every console page, in Chinese and in English: no untranslated string, labelled inputs,
headings in order."""

from __future__ import annotations

import re
from pathlib import Path

import lxml.html
import pytest

from api.console.i18n import MISSING, messages
from tests.console.test_roles import PAGES, SPEC

TEMPLATES = Path(__file__).resolve().parents[2] / "api" / "console" / "templates"
# Words a Chinese page may show as they are: standards' and formats' names.
ALLOWED_WORDS = {"AIP", "OCR", "PREMIS", "SHA", "manifest", "json", "v", "s", "csrf"}
HTML_PAGES = [(t, a) for t, a in PAGES if not t.endswith(".png")]


def _as_roles_holding(action: str) -> list[str]:
    return sorted(SPEC[action])


def accessibility_problems(html: str) -> list[str]:
    """Inputs without a label, and headings that skip a level or are not led by one h1."""
    doc = lxml.html.fromstring(html)
    problems = []
    labelled = {label.get("for") for label in doc.iter("label") if label.get("for")}
    for field in doc.xpath("//input[not(@type='hidden') and not(@type='submit')] | //select | //textarea"):
        inside_label = any(a.tag == "label" for a in field.iterancestors())
        if not inside_label and (not field.get("id") or field.get("id") not in labelled):
            problems.append(f"unlabelled {field.tag} name={field.get('name')}")
    levels = [int(h.tag[1]) for h in doc.xpath("//h1|//h2|//h3|//h4|//h5|//h6")]
    if levels[:1] != [1] or levels.count(1) != 1:
        problems.append(f"headings must start with one h1: {levels}")
    problems += [f"heading h{b} after h{a}" for a, b in zip(levels, levels[1:]) if b > a + 1]
    for button in doc.iter("button"):
        if not button.text_content().strip():
            problems.append("a button without text")
    return problems


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_page_renders_translated_and_accessible(lang, as_role, targets):
    seen = 0
    for template, action in HTML_PAGES:
        for role in _as_roles_holding(action)[:2]:
            client, _ = as_role(role)
            client.cookies.set("jz_lang", lang, path="/console")
            r = client.get(template.format(**targets))
            assert r.status_code == 200, (template, role)
            assert MISSING.format("")[0] not in r.text, (template, lang, re.findall(r"⟦[^⟧]*⟧", r.text))
            assert f'lang="{"zh-CN" if lang == "zh" else "en"}"' in r.text
            assert accessibility_problems(r.text) == [], (template, role)
            seen += 1
    assert seen >= len(HTML_PAGES)


def test_sign_in_page_is_a_labelled_form_with_a_csrf_field(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        html = client.get("/console/login").text
    doc = lxml.html.fromstring(html)
    names = {i.get("name"): i.get("type") for i in doc.iter("input")}
    assert names["username"] in (None, "text") and names["password"] == "password"
    assert names["csrf"] == "hidden"
    assert accessibility_problems(html) == []


def _visible_template_text(source: str) -> str:
    """A template's own words: without Jinja expressions, statements, comments and tags."""
    source = re.sub(r"{#.*?#}|{%.*?%}|{{.*?}}", " ", source, flags=re.S)
    source = re.sub(r"<script.*?</script>|<style.*?</style>", " ", source, flags=re.S)
    return re.sub(r"<[^>]+>", " ", source)


def test_templates_hold_no_words_of_their_own():
    """Every word a person reads comes from messages.json (both languages) or from the data."""
    for path in sorted(TEMPLATES.glob("*.html")):
        words = set(re.findall(r"[A-Za-z\u4e00-\u9fff]+", _visible_template_text(path.read_text(encoding="utf-8"))))
        assert words <= ALLOWED_WORDS, (path.name, words - ALLOWED_WORDS)


def test_every_message_has_both_languages():
    for key, texts in messages().items():
        assert texts.get("zh") and texts.get("en"), key


def test_the_review_page_marks_the_words_read_under_the_threshold(as_role, targets, console_home):
    """The engine's unsure words reach the review page as marks over the very characters it read,
    with their confidence; the rest of the text is there unmarked, in order."""
    from archive import review

    item = review.show(console_home.settings.catalog_url, targets["fdoc"], int(targets["fpage"]))
    assert item.unsure, "a page flagged at a 95 threshold has words read under it"
    client, _ = as_role("archivist")
    page = client.get(f"/console/review/{targets['fdoc']}/{targets['fpage']}")
    assert page.status_code == 200
    doc = lxml.html.fromstring(page.text)
    marks = doc.xpath("//mark[@class='unsure']")
    assert [m.text_content() for m in marks] == [item.text[u.start:u.end] for u in item.unsure]
    assert all(str(u.confidence) in m.get("title") for m, u in zip(marks, item.unsure))
    assert doc.xpath("//div[@class='ocr-text']/pre")[0].text_content() == item.text
    assert doc.xpath("//pre/@aria-describedby") == ["unsure-legend"]


def test_each_version_on_the_case_page_says_whether_it_has_trusted_time(as_role, targets):
    """This archive has no TSA: every version says so, never passing the signer's own clock off as proof."""
    client, _ = as_role("auditor")
    page = client.get(f"/console/cases/{targets['aip']}")
    doc = lxml.html.fromstring(page.text)
    rows = doc.xpath("//section[@aria-labelledby='h-versions']//tbody/tr")
    assert rows and all(r.xpath("td")[-1].text_content().strip() == messages()["cases.time.none"]["zh"] for r in rows)
