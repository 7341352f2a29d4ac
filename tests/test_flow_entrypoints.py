"""Every flow loads as a Prefect worker loads it, and nothing it puts on ``sys.path`` shadows
the standard library.

Prefect's loader puts an entrypoint's folder (``flows/``) at the front of ``sys.path``; child
processes (the OCR pool) inherit it. ``flows/inspect.py`` once shadowed ``inspect`` there and
every deployment run lost its OCR.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _flow_entrypoints() -> list[str]:
    """``flows/x.py:function`` for every function decorated with ``@flow`` in ``flows/``."""
    found = []
    for path in sorted((REPO / "flows").glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef) and any(
                    (isinstance(d, ast.Call) and getattr(d.func, "id", "") == "flow")
                    or getattr(d, "id", "") == "flow" for d in node.decorator_list):
                found.append(f"flows/{path.name}:{node.name}")
    return found


def test_no_module_in_a_flow_folder_has_a_standard_library_name():
    folders = {Path(e.split(":")[0]).parent for e in _flow_entrypoints()}
    clashes = [str(folder / p.name) for folder in folders for p in (REPO / folder).iterdir()
               if p.stem in sys.stdlib_module_names and p.stem != "__init__"]
    assert not clashes, f"these modules shadow the standard library on a worker: {clashes}"


_LOADER = r"""
import json, multiprocessing, sys
from concurrent.futures import ProcessPoolExecutor
from prefect.flows import load_flow_from_entrypoint

names = {}
for entrypoint in json.loads(sys.argv[1]):
    names[entrypoint] = load_flow_from_entrypoint(entrypoint).name

with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver")) as pool:  # as the OCR pool
    inspect_file = pool.submit(eval, "[__import__(m) for m in ('logging', 'types', 'secrets', 'queue')]"
                                     " and __import__('inspect').getfile(__import__('inspect'))").result()
print(json.dumps({"names": names, "inspect": inspect_file}))
"""


def test_every_flow_loads_from_its_entrypoint_and_children_import_the_standard_library():
    entrypoints = _flow_entrypoints()
    assert "flows/ingest_batch.py:ingest_batch" in entrypoints
    proc = subprocess.run([sys.executable, "-c", _LOADER, json.dumps(entrypoints)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(out["names"]) == set(entrypoints)
    assert Path(out["inspect"]).parent != REPO / "flows"
