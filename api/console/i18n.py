"""The console's words in Chinese and English (``messages.json``), and error texts from the
error-code registry. A key with no text renders as ``⟦key⟧`` so a test can find it."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from schemas.errors import describe

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"
MISSING = "⟦{}⟧"


@cache
def messages() -> dict[str, dict[str, str]]:
    return json.loads(Path(__file__).with_name("messages.json").read_text(encoding="utf-8"))


def translate(key: str, lang: str, **params: object) -> str:
    text = messages().get(key, {}).get(lang)
    if text is None:
        return MISSING.format(key)
    return text.format(**params) if params else text


def error_text(code: str, lang: str, **params: object) -> str:
    try:
        return describe(code, lang, **params)
    except KeyError:
        return MISSING.format(code)


def language_of(value: str | None) -> str:
    return value if value in LANGS else DEFAULT_LANG
