"""The one table both OCR benchmarks print: a row per policy, a blank where not measured."""

from __future__ import annotations

COLUMNS = [  # key, heading, format
    ("cer", "CER", "{:.2%}"),
    ("seal_cer", "seal CER", "{:.2%}"),
    ("token_cer", "案号/name/ID CER", "{:.2%}"),
    ("cpu_per_page", "CPU s/page", "{:.2f}"),
    ("s_per_page", "stage s/page", "{:.2f}"),
    ("stage_ratio", "stage / floor", "{:.2f}x"),
    ("cpu_ratio", "stage CPU / cores / floor", "{:.2f}x"),
    ("ingest_ratio", "ingest / floor (server up)", "{:.2f}x"),
    ("cold_ratio", "ingest / floor (first command)", "{:.2f}x"),
    ("peak_mb", "peak MB", "{:.0f}"),
]


def print_table(rows: dict[str, dict[str, float]]) -> None:
    """Markdown, so it can go into the README as printed."""
    used = [c for c in COLUMNS if any(c[0] in r for r in rows.values())]
    print("\n| policy | " + " | ".join(h for _, h, _ in used) + " |")
    print("|---|" + "---|" * len(used))
    for policy, row in rows.items():
        cells = [fmt.format(row[key]) if key in row else "" for key, _, fmt in used]
        print(f"| {policy} | " + " | ".join(cells) + " |")
