"""The net file: one format for every precision, read without executing code.

A net file is ``torch.save`` of a plain dict, read back with ``torch.load(weights_only=True)``
(which refuses any pickled class or function)::

    {"format": "azchess-net", "format_version": 1,
     "metadata": {"architecture": {...NetConfig...}, "input_encoding": "lc0-classical-112",
                  "policy_encoding": "lc0-1858", "precision": "fp32" | "int8-dynamic" | "int8-static",
                  "quantization": None | {"backend", "scheme", "reduce_range", "float_layers",
                                          "calibration": {...}},
                  "provenance": {"data", "steps", "command", ...}},
     "state_dict": {name: tensor}, "module_versions": {module prefix: version},
     "onnx_model": uint8 tensor (int8-static files only, optional)}

``module_versions`` keeps the per-module serialisation versions that torch's ``state_dict`` carries
on the side (quantized layers read old and new layouts differently).

int8 state dicts hold torch's quantized tensors (weights and scales, never packed kernels), so
a file is portable between x86 machines; loading rebuilds the int8 module skeleton from the
metadata and fills it. ``onnx_model`` is the ONNX Runtime int8 graph of the same fp32 net,
calibrated on the same positions (:mod:`engine.nn.ort`; its recipe in
``metadata["quantization"]["onnxruntime"]``): serialized protobuf bytes, checked before use. ``amp`` is a run-time mode of an fp32 file, not a stored precision.
Every failure to read a file raises :class:`NetFileError` with a one-line message.

This module is the format and knows no other; :mod:`engine.nn.lc0` reads lc0 weights files into
the same :class:`NetFile`, and :mod:`engine.nn.loader` opens either kind by path.
"""

from __future__ import annotations

import os
import pathlib
import pickle
import tempfile
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from engine.nn import torch_warnings  # noqa: F401  (quantized tensors warn on creation)
from engine.nn import quantization
from engine.nn.model import ChessNet, NetConfig

FORMAT_NAME = "azchess-net"
FORMAT_VERSION = 1
INPUT_ENCODING = "lc0-classical-112"
POLICY_ENCODING = "lc0-1858"
STORED_PRECISIONS = ("fp32", "int8-dynamic", "int8-static")
"""Precisions a file can hold (``amp`` runs an fp32 file)."""


class NetFileError(ValueError):
    """A net file that cannot be used here: corrupt, unsafe, incompatible or unrunnable."""


@dataclass
class NetFile:
    """A parsed net file: its metadata and the tensors, not yet put into a module."""

    config: NetConfig
    precision: str
    state_dict: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    path: str = ""
    onnx_model: bytes | None = None

    @property
    def quantization(self) -> dict[str, Any]:
        return self.metadata.get("quantization") or {}


def build_metadata(config: NetConfig, precision: str, quantization_info: dict[str, Any] | None = None,
                   provenance: dict[str, Any] | None = None) -> dict[str, Any]:
    """Metadata dict of a net file (plain Python values only)."""
    if precision not in STORED_PRECISIONS:
        raise ValueError(f"cannot store precision {precision!r}; one of {STORED_PRECISIONS}")
    return {"architecture": config.to_dict(), "input_encoding": INPUT_ENCODING,
            "policy_encoding": POLICY_ENCODING, "precision": precision,
            "quantization": quantization_info, "provenance": provenance or {}}


def save_net(path: str | pathlib.Path, net: nn.Module, metadata: dict[str, Any],
             onnx_model: bytes | None = None) -> int:
    """Write ``net``'s weights and ``metadata`` (and an int8 ONNX graph) atomically; returns the size in bytes."""
    state_dict = net.state_dict()
    versions = {prefix: int(entry["version"]) for prefix, entry in getattr(state_dict, "_metadata", {}).items()
                if isinstance(entry, dict) and "version" in entry}
    payload: dict[str, Any] = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "metadata": metadata,
                               "state_dict": dict(state_dict), "module_versions": versions}
    if onnx_model is not None:
        payload["onnx_model"] = torch.frombuffer(bytearray(onnx_model), dtype=torch.uint8)
    target = pathlib.Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    os.close(handle)
    try:
        torch.save(payload, temporary)
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return target.stat().st_size


def read_azchess_file(path: str | pathlib.Path) -> NetFile:
    """Parse and validate one of our net files without building the module.

    :raises NetFileError: missing, truncated, unsafe (pickled code), foreign or unknown-version files.
    """
    name = str(path)
    if not os.path.isfile(name):
        raise NetFileError(f"{name}: no such net file")
    try:
        payload = torch.load(name, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        detail = str(error).split("\n")[0] if "Unsupported global" not in str(error) else "unsupported global"
        raise NetFileError(f"{name}: refused, the file contains pickled code or objects, not plain "
                           f"weights ({detail[:120]})") from None
    except Exception as error:  # torch raises RuntimeError/EOFError/OSError for damaged archives
        first_line = str(error).strip().split("\n")[0][:120]
        raise NetFileError(f"{name}: truncated or corrupt net file ({first_line})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
        raise NetFileError(f"{name}: not an {FORMAT_NAME} file")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise NetFileError(f"{name}: net file format version {version!r} is not supported "
                           f"(this engine reads version {FORMAT_VERSION})")
    metadata = payload.get("metadata")
    tensors = payload.get("state_dict")
    versions = payload.get("module_versions", {})
    if not isinstance(metadata, dict) or not isinstance(tensors, dict) or not isinstance(versions, dict):
        raise NetFileError(f"{name}: net file lacks metadata or weights")
    state_dict = OrderedDict(tensors)
    state_dict._metadata = {prefix: {"version": version} for prefix, version in versions.items()}  # type: ignore[attr-defined]
    for key, expected in (("input_encoding", INPUT_ENCODING), ("policy_encoding", POLICY_ENCODING)):
        if metadata.get(key) != expected:
            raise NetFileError(f"{name}: {key} {metadata.get(key)!r} is not supported (expected {expected!r})")
    precision = metadata.get("precision")
    if precision not in STORED_PRECISIONS:
        raise NetFileError(f"{name}: unknown precision {precision!r}")
    onnx_model = payload.get("onnx_model")
    if onnx_model is not None and not (isinstance(onnx_model, torch.Tensor) and onnx_model.dtype == torch.uint8
                                       and onnx_model.dim() == 1):
        raise NetFileError(f"{name}: onnx_model entry is not a byte tensor")
    try:
        config = NetConfig.from_dict(metadata.get("architecture") or {})
    except (TypeError, ValueError) as error:
        raise NetFileError(f"{name}: bad architecture metadata ({error})") from None
    return NetFile(config=config, precision=precision, state_dict=state_dict, metadata=metadata, path=name,
                   onnx_model=None if onnx_model is None else onnx_model.numpy().tobytes())


def instantiate(net_file: NetFile) -> nn.Module:
    """The module stored in ``net_file``, in its stored precision, in eval mode.

    :raises NetFileError: weights that do not fit the declared architecture, or an int8 file on a
        machine without the int8 engine.
    """
    float_net = ChessNet(net_file.config).eval()
    skeleton: nn.Module = float_net
    try:
        if net_file.precision == "int8-static":
            info = net_file.quantization
            skeleton = quantization.static_skeleton(float_net, bool(info.get("reduce_range", False)),
                                                    list(info.get("float_layers", [])))
        elif net_file.precision == "int8-dynamic":
            skeleton = quantization.dynamic_quantize(float_net)
    except quantization.QuantizationUnavailable as error:
        raise NetFileError(f"{net_file.path}: {error}") from None
    except KeyError as error:
        raise NetFileError(f"{net_file.path}: quantization metadata names unknown layer {error}") from None
    try:
        skeleton.load_state_dict(net_file.state_dict, strict=True)
    except (RuntimeError, KeyError, TypeError, AttributeError) as error:
        detail = " ".join(str(error).split())[:200]
        raise NetFileError(f"{net_file.path}: weights do not match architecture "
                           f"{net_file.config.name} ({detail})") from None
    return skeleton.eval()
