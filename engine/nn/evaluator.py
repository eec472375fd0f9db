"""The search's view of the network: planes in, policy logits and WDL probabilities out.

:func:`load_evaluator` reads a net file and runs it at the precision it holds (``"auto"``) or
at one the caller picks: an fp32 file also runs as ``amp`` (bfloat16 autocast on CPU, float16
on CUDA) or ``int8-dynamic`` (quantized at load time). ``int8-static`` needs calibration, so it
comes only from a file made by ``engine quantize``. int8 modes run on CPU only; asking for
one on CUDA is refused with :class:`engine.nn.netfile.NetFileError`, never run in float silently.

Three backends run the net: eager torch; ONNX Runtime (:mod:`engine.nn.ort`, fp32 and
int8-static on CPU); and Winograd (:mod:`engine.nn.winograd`, fp32 on CPU, the fastest here at
search batch sizes). ``backend="auto"`` takes Winograd for fp32 on CPU, ONNX Runtime for
int8-static, and torch otherwise; naming a backend that cannot run the request is an error.
"""

from __future__ import annotations

import os
import pathlib
import sys
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from engine.nn import ort, quantization, winograd
from engine.nn.model import NetConfig, random_net
from engine.nn.loader import read_net_file
from engine.nn.netfile import NetFile, NetFileError, instantiate

PRECISIONS = ("fp32", "amp", "int8-dynamic", "int8-static")
"""Run-time precisions."""
INT8_PRECISIONS = ("int8-dynamic", "int8-static")
BACKENDS = ("auto", "torch", "onnxruntime", "winograd")
"""Evaluation backends; ``auto`` is Winograd for fp32 on CPU, ONNX Runtime where it runs the
file's precision, else torch."""
AMP_DTYPES = {"cpu": torch.bfloat16, "cuda": torch.float16}
DEFAULT_RANDOM_CONFIG = NetConfig(filters=128, blocks=10)


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def set_threads(threads: int | None) -> int:
    """Give torch ``threads`` intra-op threads (default: all available cores, never more)."""
    cores = available_cores()
    count = cores if threads is None else max(1, min(int(threads), cores))
    torch.set_num_threads(count)
    return count


def resolve_device(device: str) -> torch.device:
    """``"auto"`` is CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise NetFileError(f"device {device!r} requested but CUDA is not available")
    return resolved


@dataclass
class Evaluator:
    """A network ready to evaluate batches of encoded positions.

    :ivar precision: run-time precision (one of :data:`PRECISIONS`).
    :ivar device: torch device the net runs on.
    :ivar config: architecture.
    :ivar source: where the weights came from (a path or ``"random"``).
    :ivar backend: ``"torch"``, ``"onnxruntime"`` or ``"winograd"`` (for the last two ``session``
        runs the net, and ``model`` is the same net in torch, kept for its size and parameters).
    """

    model: nn.Module
    config: NetConfig
    precision: str
    device: torch.device
    source: str
    backend: str = "torch"
    session: ort.OrtSession | winograd.WinogradNet | None = None

    def evaluate(self, planes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Policy logits ``[N, 1858]`` and WDL probabilities ``[N, 3]`` (float32) of ``planes`` ``[N,112,8,8]``.

        Every backend releases the GIL for its heavy work (the net's layers), so search threads keep
        running meanwhile.
        """
        if self.session is not None:
            return self.session.run(planes)
        batch = torch.from_numpy(np.ascontiguousarray(planes, dtype=np.float32))
        with torch.inference_mode():
            batch = batch.to(self.device, non_blocking=True)
            if self.precision == "amp":
                with torch.autocast(self.device.type, dtype=AMP_DTYPES[self.device.type]):
                    policy, wdl_logits, _ = self.model(batch)
            else:
                policy, wdl_logits, _ = self.model(batch)
            wdl = torch.softmax(wdl_logits.float(), dim=1)
            return policy.float().cpu().numpy(), wdl.cpu().numpy()

    def describe(self) -> str:
        """One line: architecture, precision, backend, device, threads and source."""
        threads = ""
        if self.device.type == "cpu":
            count = self.session.threads if self.session is not None else torch.get_num_threads()
            threads = f", {count} thread{'s' if count != 1 else ''}"
        return (f"{self.config.name} net, {self.precision} ({self.backend}) on {self.device.type}{threads}, "
                f"from {self.source}")


def make_evaluator(net: nn.Module, config: NetConfig, stored_precision: str, precision: str = "auto",
                   device: str = "auto", source: str = "memory", backend: str = "auto",
                   onnx_model: bytes | None = None) -> Evaluator:
    """An :class:`Evaluator` running ``net`` (held at ``stored_precision``) at ``precision``.

    :param backend: one of :data:`BACKENDS`.
    :param onnx_model: the int8 ONNX Runtime graph an int8-static file carries (None: none).
    :raises NetFileError: when the conversion, device or backend is impossible (never falls back
        silently from a named choice).
    """
    target = stored_precision if precision == "auto" else precision
    if target not in PRECISIONS:
        raise NetFileError(f"unknown precision {precision!r}; choose from auto, {', '.join(PRECISIONS)}")
    if backend not in BACKENDS:
        raise NetFileError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    run_device = resolve_device(device)
    if target in INT8_PRECISIONS and run_device.type != "cpu":
        raise NetFileError(f"{target} runs on CPU only (torch's int8 kernels); use device cpu, "
                           f"or fp32/amp on {run_device.type}")
    if stored_precision != target:
        if stored_precision != "fp32":
            raise NetFileError(f"{source} holds {stored_precision} weights; it cannot run as {target} "
                               f"(use the fp32 net it was made from)")
        if target == "int8-static":
            raise NetFileError(f"{source}: int8-static needs calibration; make an int8 file with "
                               f"`engine quantize --mode int8-static`")
        if target == "int8-dynamic":
            try:
                net = quantization.dynamic_quantize(net)
            except quantization.QuantizationUnavailable as error:
                raise NetFileError(str(error)) from None
    net = net.to(run_device).eval()
    session = _winograd_net(net, target, run_device, backend)
    if session is not None:
        return Evaluator(model=net, config=config, precision=target, device=run_device, source=source,
                         backend="winograd", session=session)
    session = _ort_session(net, target, run_device, source, backend, onnx_model)
    return Evaluator(model=net, config=config, precision=target, device=run_device, source=source,
                     backend="torch" if session is None else "onnxruntime", session=session)


def _winograd_net(net: nn.Module, precision: str, device: torch.device, backend: str) -> winograd.WinogradNet | None:
    """The Winograd runner for the request, or None where another backend runs it."""
    if backend not in ("auto", "winograd"):
        return None
    reason = None
    if device.type != "cpu":
        reason = f"it runs on CPU only, not {device.type}"
    elif precision != "fp32":
        reason = f"it runs fp32 only, not {precision}"
    if reason is not None:
        return _cannot_run(backend, "winograd", reason)
    try:
        return winograd.WinogradNet(net, torch.get_num_threads())
    except ValueError as error:  # a net it cannot run (not 3x3 convolutions, quantized modules)
        return _cannot_run(backend, "winograd", str(error))


def _cannot_run(backend: str, name: str, reason: str) -> None:
    """None where ``backend`` is ``auto`` (the next backend is tried), else the refusal of backend ``name``.

    :raises NetFileError: when ``name`` was asked for by name.
    """
    if backend == "auto":
        return None
    raise NetFileError(f"backend {name} cannot run this net: {reason}")


def _ort_session(net: nn.Module, precision: str, device: torch.device, source: str, backend: str,
                 onnx_model: bytes | None) -> ort.OrtSession | None:
    """The ONNX Runtime session for the request, or None where torch runs it (``auto`` only)."""
    if backend == "torch":
        return None
    reason = None
    if device.type != "cpu":
        reason = f"it runs on CPU only here, not {device.type}"
    elif precision not in ort.ORT_PRECISIONS:
        reason = f"it runs {' and '.join(ort.ORT_PRECISIONS)}, not {precision}"
    elif precision == "int8-static" and onnx_model is None:
        reason = (f"{source} carries no ONNX Runtime int8 graph (made before it existed, or by QAT); "
                  f"re-run `engine quantize --mode int8-static` on its fp32 net")
    elif not ort.available():
        reason = "onnxruntime is not installed"
    if reason is not None:
        return _cannot_run(backend, "onnxruntime", reason)
    try:
        if precision == "fp32":
            onnx_model = ort.export_onnx(net)
        else:
            assert onnx_model is not None
            ort.check_onnx_model(onnx_model, source)
        return ort.OrtSession(onnx_model, torch.get_num_threads())
    except ValueError as error:  # a refused or corrupt stored graph
        raise NetFileError(str(error)) from None
    except Exception as error:  # ONNX Runtime's own load failures (InvalidGraph, Fail, ...)
        raise NetFileError(f"{source}: ONNX Runtime cannot load the net ({str(error).splitlines()[0][:160]})") from None


def load_evaluator(path: str | pathlib.Path | None, precision: str = "auto", device: str = "auto",
                   threads: int | None = None, backend: str = "auto") -> Evaluator:
    """Load a net file for the search.

    :param path: net file; ``None`` gives a random (untrained) 128x10 fp32 net, announced on stderr.
    :param precision: ``"auto"`` (what the file holds) or one of :data:`PRECISIONS`.
    :param device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    :param threads: CPU threads (default: all available cores; capped at that).
    :param backend: one of :data:`BACKENDS` (see :func:`make_evaluator`).
    :raises NetFileError: one-line reason when the file or the requested mode cannot be used.
    """
    set_threads(threads)
    if path is None:
        print("info string no net file given: using a random untrained net", file=sys.stderr)
        return make_evaluator(random_net(DEFAULT_RANDOM_CONFIG), DEFAULT_RANDOM_CONFIG, "fp32", precision,
                              device, source="random", backend=backend)
    net_file: NetFile = read_net_file(path)
    return make_evaluator(instantiate(net_file), net_file.config, net_file.precision, precision, device,
                          source=str(path), backend=backend, onnx_model=net_file.onnx_model)

