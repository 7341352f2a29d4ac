"""Exact rewrites of the PP-OCR graphs, made in memory when a worker builds its sessions.

The models in the wheel were exported from Paddle operator by operator: every convolution is
followed by a learned scale and shift (``Mul``, ``Add`` by scalars) and every hard-swish is
spelled out as ``Add``, ``Clip``, ``Mul``, ``Div``. ONNX Runtime fuses none of these, and
the element-wise passes over the activations (with the layout changes around them) took
about 40 % of the recogniser's time. The rewrite is algebra, not approximation:

- ``Conv -> Mul(a) -> Add(b)`` becomes one ``Conv`` with weights ``a*w`` and bias ``a*c + b``;
- ``x * Clip(x + 3, 0, 6) / 6`` becomes ``HardSwish(x)`` (opset 14, which the graph is
  converted to first);
- ``Mul(a) -> Add(b) -> Conv`` becomes one ``Conv`` with weights ``a*w`` and bias
  ``c + b*sum(w)``, but only for a convolution without padding: zero padding of the
  shifted input is not the shift of the zero-padded input.

The page text read through the rewritten recogniser is the same as through the original
(``tests/ingest/test_ocr_rewrite.py``); only float rounding differs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper, version_converter

OPSET = 14  # the first with HardSwish


class _Graph:
    """The graph's nodes, constants and consumers, as the rewrites need them."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.graph = model.graph
        for node in [n for n in self.graph.node if n.op_type == "Constant"]:
            tensor = onnx.TensorProto()
            tensor.CopyFrom(node.attribute[0].t)
            tensor.name = node.output[0]
            self.graph.initializer.append(tensor)
            self.graph.node.remove(node)
        self.constants = {t.name: t for t in self.graph.initializer}
        self.outputs = {o.name for o in self.graph.output}
        # A Python list holds every node's wrapper for the whole rewrite, so ids stay unique.
        self.nodes: list[onnx.NodeProto] = list(self.graph.node)
        self.dropped: set[int] = set()

    def array(self, name: str) -> np.ndarray | None:
        tensor = self.constants.get(name)
        return None if tensor is None else numpy_helper.to_array(tensor)

    def add_constant(self, name: str, value: np.ndarray) -> str:
        tensor = numpy_helper.from_array(value.astype(np.float32), name)
        self.graph.initializer.append(tensor)
        self.constants[name] = tensor
        return name

    def live(self) -> Iterator[onnx.NodeProto]:
        return (n for n in self.nodes if id(n) not in self.dropped)

    def replace(self, old: onnx.NodeProto, new: onnx.NodeProto) -> None:
        self.nodes[self.nodes.index(old)] = new

    def only_consumer(self, value: str) -> onnx.NodeProto | None:
        """The one live node reading ``value``, when no other node or graph output does."""
        if value in self.outputs:
            return None
        readers = [n for n in self.live() if value in n.input]
        return readers[0] if len(readers) == 1 else None

    def scalar(self, node: onnx.NodeProto | None, op_type: str) -> tuple[float | None, str]:
        """For ``node`` of ``op_type`` with one scalar constant operand: (that scalar, the other input)."""
        if node is None or node.op_type != op_type or len(node.input) != 2:
            return None, ""
        first, second = node.input
        for name, other in ((first, second), (second, first)):
            value = self.array(name)
            if value is not None and value.size == 1:
                return float(value.reshape(())), other
        return None, ""

    def conv_weights(self, conv: onnx.NodeProto) -> tuple[np.ndarray, np.ndarray] | None:
        weights = self.array(conv.input[1])
        if weights is None:
            return None
        bias = self.array(conv.input[2]) if len(conv.input) > 2 else np.zeros(weights.shape[0], np.float32)
        return (weights, bias) if bias is not None else None

    def finish(self) -> None:
        kept = [onnx.NodeProto.FromString(n.SerializeToString()) for n in self.live()]
        del self.graph.node[:]
        self.graph.node.extend(kept)
        used = {name for node in kept for name in node.input}
        initializers = [t for t in self.graph.initializer if t.name in used]
        del self.graph.initializer[:]
        self.graph.initializer.extend(initializers)


def rewritten(model_path: Path) -> onnx.ModelProto:
    """The model at ``model_path`` with the three rewrites applied wherever they are exact."""
    model = version_converter.convert_version(onnx.load(str(model_path)), OPSET)
    graph = _Graph(model)
    _fold_output_affine(graph)
    _fuse_hard_swish(graph)
    _fold_input_affine(graph)
    graph.finish()
    return model


def _fold_output_affine(graph: _Graph) -> None:
    for conv in [n for n in graph.live() if n.op_type == "Conv"]:
        mul = graph.only_consumer(conv.output[0])
        scale, _ = graph.scalar(mul, "Mul")
        if scale is None:
            continue
        add = graph.only_consumer(mul.output[0])
        shift, _ = graph.scalar(add, "Add")
        params = graph.conv_weights(conv)
        if shift is None or params is None:
            continue
        weights, bias = params
        source = conv.input[0]
        del conv.input[:]
        conv.input.extend([source, graph.add_constant(f"{conv.output[0]}/w_scaled", weights * scale),
                           graph.add_constant(f"{conv.output[0]}/b_scaled", bias * scale + shift)])
        conv.output[0] = add.output[0]
        graph.dropped.update((id(mul), id(add)))


def _fuse_hard_swish(graph: _Graph) -> None:
    for add in [n for n in graph.live() if n.op_type == "Add"]:
        three, x = graph.scalar(add, "Add")
        clip = graph.only_consumer(add.output[0])
        if three != 3.0 or clip is None or clip.op_type != "Clip" or len(clip.input) != 3:
            continue
        if graph.array(clip.input[1]) != 0 or graph.array(clip.input[2]) != 6:
            continue
        mul = graph.only_consumer(clip.output[0])
        if mul is None or mul.op_type != "Mul" or set(mul.input) != {x, clip.output[0]}:
            continue
        div = graph.only_consumer(mul.output[0])
        six, _ = graph.scalar(div, "Div")
        if six != 6.0 or div.input[1] not in graph.constants:
            continue
        graph.dropped.update((id(clip), id(mul), id(div)))
        graph.replace(add, helper.make_node("HardSwish", [x], [div.output[0]], name=f"{div.output[0]}/hard_swish"))


def _fold_input_affine(graph: _Graph) -> None:
    for mul in [n for n in graph.live() if n.op_type == "Mul"]:
        scale, source = graph.scalar(mul, "Mul")
        if scale is None:
            continue
        add = graph.only_consumer(mul.output[0])
        shift, _ = graph.scalar(add, "Add")
        if shift is None:
            continue
        conv = graph.only_consumer(add.output[0])
        if conv is None or conv.op_type != "Conv" or conv.input[0] != add.output[0] or not _unpadded(conv):
            continue
        params = graph.conv_weights(conv)
        if params is None:
            continue
        weights, bias = params
        del conv.input[:]
        conv.input.extend([source, graph.add_constant(f"{conv.output[0]}/w_prescaled", weights * scale),
                           graph.add_constant(f"{conv.output[0]}/b_preshifted",
                                              bias + shift * weights.sum(axis=(1, 2, 3)))])
        graph.dropped.update((id(mul), id(add)))


def _unpadded(conv: onnx.NodeProto) -> bool:
    attributes = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
    auto_pad = attributes.get("auto_pad", b"NOTSET")
    return not any(attributes.get("pads", ())) and auto_pad in (b"NOTSET", b"VALID")
