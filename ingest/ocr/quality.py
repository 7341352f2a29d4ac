"""Character error rate as the corpus README defines it: NFKC folding, whitespace removed."""

from __future__ import annotations

import unicodedata


def _fold(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def char_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """Levenshtein edits and reference length; sum both over pages for the weighted CER."""
    ref, hyp = _fold(reference), _fold(hypothesis)
    prev = list(range(len(hyp) + 1))
    for i, a in enumerate(ref, 1):
        cur = [i]
        for j, b in enumerate(hyp, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a != b)))
        prev = cur
    return prev[-1], len(ref)


def cer(reference: str, hypothesis: str) -> float:
    edits, length = char_errors(reference, hypothesis)
    return edits / max(1, length)


def token_errors(tokens: list[str], hypothesis: str) -> tuple[int, int]:
    """Edits needed to find each token in the text (the closest stretch of it), and the
    tokens' length: how well a reader searching for a 案号, name or ID number fares."""
    text = _fold(hypothesis)
    edits = 0
    for token in tokens:
        prev = [0] * (len(text) + 1)  # a match may start anywhere in the text
        for i, a in enumerate(_fold(token), 1):
            cur = [i]
            for j, b in enumerate(text, 1):
                cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a != b)))
            prev = cur
        edits += min(prev)  # ... and end anywhere
    return edits, sum(len(_fold(t)) for t in tokens)
