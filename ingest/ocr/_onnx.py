"""ONNX Runtime sessions for PP-OCR: one per model, thread count and provider, per process.

Models come from the ``rapidocr-onnxruntime`` wheel (PP-OCRv4 detection and recognition),
installed with the package, so nothing is fetched at run time. Each session runs the model
rewritten exactly (``_rewrite``: folded scales, fused hard-swish), which reads the same text
in about 60 % of the time. A session costs under a second to build, so each worker process
builds its sessions once and keeps them.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import onnxruntime

from ingest.ocr import _rewrite

MODEL_DIR = Path(__import__("rapidocr_onnxruntime").__file__).parent / "models"
DETECTION_MODEL = MODEL_DIR / "ch_PP-OCRv4_det_infer.onnx"
RECOGNITION_MODEL = MODEL_DIR / "ch_PP-OCRv4_rec_infer.onnx"
DIRECTION_MODEL = MODEL_DIR / "ch_ppocr_mobile_v2.0_cls_infer.onnx"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def choose_provider(requested: str = "auto") -> str:
    """CUDA when ``onnxruntime-gpu`` is installed and sees a GPU, else the CPU; ``cpu`` or
    ``cuda`` force one (``cuda`` without a GPU raises, naming what is installed)."""
    available = onnxruntime.get_available_providers()
    has_gpu = CUDA in available and onnxruntime.get_device() == "GPU"
    if requested == "cpu" or (requested == "auto" and not has_gpu):
        return CPU
    if not has_gpu:
        raise RuntimeError(f"ONNX Runtime has no usable CUDA provider (installed: {available})")
    return CUDA


def default_threads(jobs: int, cores: int | None = None) -> int:
    """Threads per session: the cores left to each worker process, at least one. With one
    worker per core (the default) every session runs on one thread: pages, not operators,
    are what the pipeline spreads across cores."""
    return max(1, (cores or os.cpu_count() or 1) // max(1, jobs))


@functools.cache
def session(model: Path, threads: int, provider: str) -> onnxruntime.InferenceSession:
    """The process's session for ``model``; built on first use."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # Which sessions keep ONNX Runtime's memory arena. Without an arena every activation is a
    # fresh allocation, and those over the worker's mmap threshold (``_heap``) are fresh mappings
    # the kernel must fault in and zero: the recogniser, run for every line, then spent more CPU
    # in page faults than in its convolutions (40 pages, two workers: 74 CPU-s, 38 s wall; the
    # arena for recogniser and direction model: 47 CPU-s, 24 s wall). The detector runs once per
    # page on page-sized maps: an arena would keep the largest page's maps for the worker's life
    # (about 95 MB a worker), and its few allocations cost little to fault in.
    options.enable_cpu_mem_arena = model != DETECTION_MODEL
    providers = [provider, CPU] if provider != CPU else [CPU]
    graph = _rewrite.rewritten(model).SerializeToString()
    return onnxruntime.InferenceSession(graph, sess_options=options, providers=providers)


@functools.cache
def character_list(recogniser: onnxruntime.InferenceSession) -> list[str]:
    """The recognition model's alphabet, index 0 being CTC's blank and the last a space."""
    return ["", *recogniser.get_modelmeta().custom_metadata_map["character"].splitlines(), " "]
