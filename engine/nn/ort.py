"""The ONNX Runtime backend: the same net as an ONNX graph, run by ONNX Runtime's CPU kernels.

Why a second backend: on CPU, with the small batches a search makes, ONNX Runtime runs our nets
faster than eager torch (its graph optimizer fuses conv, bias, ReLU and the SE block's small ops,
and its int8 convolutions have no per-call dispatch cost). Measured side by side on the 2-core
AVX2 machine, one thread, 64x6-se4 (positions/s at batch 1 / 8 / 32)::

    torch fp32 257 / 600 / 897     torch int8-static 363 / 974 / 1332
    ORT fp32   985 / 1060 / 1166   ORT int8 (QDQ)    1572 / 1820 / 2026

* fp32: :func:`export_onnx` turns the module into an ONNX graph at load time (about a second);
  the results are the fp32 net's to float rounding.
* int8-static: ``engine quantize --mode int8-static`` also calibrates an ONNX Runtime int8 graph
  of the same fp32 net on the same positions (:func:`quantize_onnx`) and stores it in the net
  file beside torch's int8 weights, so an int8 file runs on either backend without a
  calibration at load time.

Recipe of the int8 graph (chosen by measuring top-1 agreement with fp32 on held-out positions:
on the shipped 64x6-se4, 1000 positions: convolutions and the value head's hidden layer 96.3%,
every dense layer too 95.3%, MinMax ranges 92.9%; torch's int8-static 93.4%): QDQ format,
per-channel symmetric int8 weights, uint8 activations with percentile (99.999) ranges; the
policy head, the SE gates and the output layers stay float, like torch's recipe.

A stored graph is data, not code: :func:`check_onnx_model` refuses one that names external
files or custom operator domains before ONNX Runtime sees it.
"""

from __future__ import annotations

import contextlib
import io
import pathlib
import sys
import tempfile
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

ORT_PRECISIONS = ("fp32", "int8-static")
"""Precisions the ONNX Runtime backend runs."""
OPSET = 17
INPUT_NAME = "planes"
OUTPUT_NAMES = ("policy", "wdl")
FLOAT_NODES = ("/net/policy_conv/Conv", "/net/policy_out/Conv")
"""Convolutions the int8 graph keeps in float: the policy head."""
INT8_DENSE_NODES = ("/net/value_fc/Gemm",)
"""The dense layers it quantizes: the value head's hidden layer (the SE gates and the output layers
stay float; quantizing them too lost a point of agreement). The graph has no moves-left output."""
CALIBRATION_PERCENTILE = 99.999
CALIBRATION_BATCH = 64
SCHEME = ("onnxruntime QDQ, int8 per-channel symmetric weights (convolutions, the value head's hidden layer), "
          "uint8 activations, percentile 99.999")
ALLOWED_DOMAINS = ("", "ai.onnx", "com.microsoft")


class OnnxRuntimeUnavailable(RuntimeError):
    """ONNX Runtime (or the ``onnx`` package) is not installed."""


class _PolicyAndWdl(nn.Module):
    """The exported graph's function: policy logits and WDL probabilities (no moves-left output)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, planes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        policy, wdl_logits, _ = self.net(planes)
        return policy, torch.softmax(wdl_logits, dim=1)


def _import_ort() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise OnnxRuntimeUnavailable("onnxruntime is not installed (pip install onnxruntime)") from None
    return onnxruntime


def available() -> bool:
    """Whether ONNX Runtime can be imported here."""
    try:
        _import_ort()
    except OnnxRuntimeUnavailable:
        return False
    return True


def export_onnx(net: nn.Module) -> bytes:
    """The fp32 ONNX graph of ``net`` (a float :class:`~engine.nn.model.ChessNet`), any batch size."""
    wrapper = _PolicyAndWdl(net).eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        # torch 2.13 marks the TorchScript exporter deprecated in favour of the dynamo one, which
        # takes ~10x longer and needs onnxscript; the graph is the same for this plain conv net.
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, (torch.zeros(2, 112, 8, 8),), buffer, input_names=[INPUT_NAME],
                          output_names=list(OUTPUT_NAMES), opset_version=OPSET, dynamo=False,
                          dynamic_axes={INPUT_NAME: {0: "batch"}, **{name: {0: "batch"} for name in OUTPUT_NAMES}})
    return buffer.getvalue()


def quantize_onnx(fp32_model: bytes, calibration_planes: np.ndarray) -> bytes:
    """An int8 (QDQ) graph of ``fp32_model`` calibrated on ``calibration_planes`` ``[N,112,8,8]``."""
    _import_ort()
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    import onnx

    planes = np.ascontiguousarray(calibration_planes, dtype=np.float32)
    float_nodes = list(FLOAT_NODES) + [node.name for node in onnx.load_model_from_string(fp32_model).graph.node
                                       if node.op_type == "Gemm" and node.name not in INT8_DENSE_NODES]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(range(0, len(planes), CALIBRATION_BATCH))

        def get_next(self) -> dict[str, np.ndarray] | None:
            start = next(self.batches, None)
            return None if start is None else {INPUT_NAME: planes[start:start + CALIBRATION_BATCH]}

    # The calibrator prints its progress; stdout may be a UCI stream or a command's result.
    with tempfile.TemporaryDirectory(prefix="azchess-ort-") as folder, contextlib.redirect_stdout(sys.stderr):
        source, prepared, quantized = (pathlib.Path(folder) / name for name in ("fp32.onnx", "pre.onnx", "int8.onnx"))
        source.write_bytes(fp32_model)
        quant_pre_process(str(source), str(prepared))
        quantize_static(str(prepared), str(quantized), Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                        calibrate_method=CalibrationMethod.Percentile, op_types_to_quantize=["Conv", "Gemm"],
                        nodes_to_exclude=float_nodes,
                        extra_options={"ActivationSymmetric": False, "CalibPercentile": CALIBRATION_PERCENTILE})
        return quantized.read_bytes()


def check_onnx_model(model: bytes, source: str) -> None:
    """Refuse graphs that could reach outside the file: external tensor data or non-standard operators.

    :raises ValueError: with a one-line reason.
    """
    import onnx

    try:
        proto = onnx.load_model_from_string(model)
    except Exception as error:  # protobuf raises DecodeError and others
        raise ValueError(f"{source}: the stored ONNX graph is corrupt ({str(error)[:120]})") from None
    for tensor in proto.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            raise ValueError(f"{source}: the stored ONNX graph refers to external data; refused")
    # Only the operators used count: the quantization tool imports opsets it does not use.
    foreign = sorted({node.domain for node in proto.graph.node} - set(ALLOWED_DOMAINS))
    if foreign or proto.functions:
        raise ValueError(f"{source}: the stored ONNX graph uses custom operators ({', '.join(foreign) or 'functions'})"
                         f"; refused")
    names = [entry.name for entry in proto.graph.input], [entry.name for entry in proto.graph.output]
    if names != ([INPUT_NAME], list(OUTPUT_NAMES)):
        raise ValueError(f"{source}: the stored ONNX graph has inputs/outputs {names}, expected "
                         f"{[INPUT_NAME]} / {list(OUTPUT_NAMES)}")


class OrtSession:
    """An ONNX Runtime session on one graph: ``run(planes)`` -> ``(policy logits, WDL probabilities)``."""

    def __init__(self, model: bytes, threads: int) -> None:
        ort = _import_ort()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle worker threads must not spin: a match runs two engines on the same cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self.threads = threads

    def run(self, planes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Releases the GIL while the graph runs, like torch ops."""
        policy, wdl = self.session.run(None, {INPUT_NAME: np.ascontiguousarray(planes, dtype=np.float32)})
        return policy, wdl


def calibration_summary(boards: Sequence[object], source: str) -> dict[str, Any]:
    """The ``onnxruntime`` entry of a file's quantization metadata."""
    return {"scheme": SCHEME, "float_convolutions": list(FLOAT_NODES), "int8_dense": list(INT8_DENSE_NODES),
            "calibration_positions": len(boards),
            "calibration_source": source, "onnxruntime_version": _import_ort().__version__}
