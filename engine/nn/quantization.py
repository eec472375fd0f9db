"""INT8 versions of :class:`engine.nn.model.ChessNet`: dynamic, static (PTQ) and QAT (distillation).

Backend: torch's eager-mode quantization with the ``x86`` engine (fbgemm/oneDNN kernels), chosen
over torchao's PT2E flow after measuring both here (see docs/precision.md): same int8 kernels
and speed class, but no compiler at run time, no per-batch-size compilation, and a plain
``state_dict`` that :func:`torch.load` reads with ``weights_only=True``.

Static recipe (the eager defaults lose 37 points of policy agreement, see the probe notes):

* conv-BN(-ReLU) and linear-ReLU fusion, residual adds as quantized ``add_relu``;
* per-channel symmetric int8 weights, per-tensor affine uint8 activations with the full
  8-bit range (``reduce_range=False``) when the CPU has VNNI (no overflow in ``vpdpbusd``),
  histogram (MSE-optimal range) activation observers;
* the layers that produce outputs stay in float: the policy head (both convs), the last
  dense layer of the value and moves-left heads, and the SE gates.

:func:`qat_finetune` fine-tunes a fake-quantized copy by distillation from the float net
(KL on the legal-move policy, cross-entropy on the WDL) and converts it to the same format;
a later ``engine train --qat`` can call it with real training positions.
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from engine.nn import torch_warnings  # noqa: F401  (must precede torch.ao imports)
from torch.ao.quantization import (  # noqa: E402
    FakeQuantize, HistogramObserver, MinMaxObserver, MovingAveragePerChannelMinMaxObserver,
    PerChannelMinMaxObserver, QConfig, convert, disable_observer, fuse_modules, fuse_modules_qat, prepare, prepare_qat, quantize_dynamic,
)

from engine.nn.model import ChessNet

QUANTIZED_ENGINE = "x86"
"""torch quantized engine used for int8 nets (oneDNN or fbgemm kernels, picked by torch)."""
STATIC_SCHEME = "eager-x86-perchannel-symmetric-w8-a8-histogram"
DYNAMIC_SCHEME = "eager-dynamic-linear-w8"
CALIBRATION_BATCH = 64
QAT_BATCH = 64
QAT_LEARNING_RATE = 1e-6
"""Adam step size: larger steps overshoot at the start (every weight moves by ~lr at once)."""
QAT_CALIBRATION_POSITIONS = 512
"""Positions that set the activation ranges (histogram observers) before QAT training starts."""
ILLEGAL_LOGIT = -1e9


class QuantizationUnavailable(RuntimeError):
    """This machine or device cannot run an int8 mode."""


@functools.cache
def cpu_has_vnni() -> bool:
    """Whether the CPU has AVX512-VNNI or AVX-VNNI (8-bit dot products without overflow)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    flags = line.split()
                    return "avx512_vnni" in flags or "avx_vnni" in flags
    except OSError:
        pass
    return False


def require_int8_engine() -> None:
    """Select the x86 quantized engine or raise :class:`QuantizationUnavailable`."""
    if QUANTIZED_ENGINE not in torch.backends.quantized.supported_engines:
        raise QuantizationUnavailable(
            f"this torch build has no {QUANTIZED_ENGINE!r} int8 engine "
            f"(has {torch.backends.quantized.supported_engines}); run the net as fp32 or amp")
    torch.backends.quantized.engine = QUANTIZED_ENGINE


def activation_reduce_range() -> bool:
    """7-bit activations are only needed on CPUs without VNNI (fbgemm's overflow guard)."""
    return not cpu_has_vnni()


def static_qconfig(reduce_range: bool, for_loading: bool = False) -> QConfig:
    """QConfig of static PTQ; ``for_loading`` uses cheap observers (their ranges are overwritten)."""
    activation_observer = MinMaxObserver if for_loading else HistogramObserver
    return QConfig(
        activation=activation_observer.with_args(dtype=torch.quint8, qscheme=torch.per_tensor_affine,
                                                 reduce_range=reduce_range),
        weight=PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric))


def qat_qconfig(reduce_range: bool) -> QConfig:
    """QConfig of QAT: fake quantization with the numerics of :func:`static_qconfig`.

    Activation ranges come from the same histogram observer as PTQ (run on the calibration
    batches before training, then frozen), so fine-tuning starts from the PTQ net.
    """
    activation_max = 127 if reduce_range else 255
    return QConfig(
        activation=FakeQuantize.with_args(observer=HistogramObserver, quant_min=0, quant_max=activation_max,
                                          dtype=torch.quint8, qscheme=torch.per_tensor_affine),
        weight=FakeQuantize.with_args(observer=MovingAveragePerChannelMinMaxObserver, quant_min=-128,
                                      quant_max=127, dtype=torch.qint8, qscheme=torch.per_channel_symmetric))


def float_layer_names(net: ChessNet) -> list[str]:
    """Names of the layers that stay in float in a statically quantized ``net``."""
    names = ["policy_conv", "policy_out", "value_out"]
    for index, block in enumerate(net.blocks):
        if block.se is not None:
            names += [f"blocks.{index}.se.squeeze", f"blocks.{index}.se.excite"]
    if net.moves_left is not None:
        names.append("moves_left.out")
    return names


def _prepare_static(net: ChessNet, qconfig: QConfig, float_layers: Sequence[str], qat: bool) -> ChessNet:
    """Fuse, attach qconfigs (``None`` for float layers) and insert observers or fake quantizers, in place."""
    require_int8_engine()
    float_groups = [group for group in net.fusion_groups() if group[0] in float_layers]
    quantized_groups = [group for group in net.fusion_groups() if group[0] not in float_layers]
    net.eval()  # float layers fold batch norm in both flows, so QAT and PTQ files share one layout
    fuse_modules(net, float_groups, inplace=True)
    if qat:
        net.train()
        fuse_modules_qat(net, quantized_groups, inplace=True)
    else:
        fuse_modules(net, quantized_groups, inplace=True)
    net.qconfig = qconfig  # type: ignore[assignment]
    modules = dict(net.named_modules())
    for name in float_layers:
        modules[name].qconfig = None
    if qat:
        prepare_qat(net, inplace=True)
    else:
        prepare(net, inplace=True)
    return net


def static_skeleton(net: ChessNet, reduce_range: bool, float_layers: Sequence[str]) -> ChessNet:
    """An int8-static module with the structure of ``net`` and placeholder quantization parameters.

    Loading a saved int8 ``state_dict`` into it restores the quantized net exactly.
    """
    prepared = _prepare_static(net, static_qconfig(reduce_range, for_loading=True), float_layers, qat=False)
    with torch.no_grad():
        prepared(torch.zeros(1, *_input_shape()))
    return convert(prepared.eval(), inplace=True)


def dynamic_quantize(net: nn.Module) -> nn.Module:
    """int8-dynamic: dense layers with int8 weights and per-batch activation scales (convs stay float)."""
    require_int8_engine()
    return quantize_dynamic(copy.deepcopy(net).eval(), {nn.Linear}, dtype=torch.qint8)


@dataclass
class CalibrationSummary:
    """How an int8-static net was calibrated; stored in the net file's metadata."""

    method: str
    positions: int
    source: str
    seconds: float
    steps: int = 0

    def to_dict(self) -> dict[str, object]:
        return {"method": self.method, "positions": self.positions, "source": self.source,
                "seconds": round(self.seconds, 2), "steps": self.steps}


def static_quantize(net: ChessNet, planes: np.ndarray, source: str,
                    progress: bool = True) -> tuple[ChessNet, CalibrationSummary]:
    """Post-training static quantization of a copy of ``net``, calibrated on ``planes`` ``[N,112,8,8]``."""
    from tqdm import tqdm

    started = time.perf_counter()
    float_layers = float_layer_names(net)
    prepared = _prepare_static(copy.deepcopy(net), static_qconfig(activation_reduce_range()), float_layers,
                               qat=False)
    with torch.inference_mode():
        for start in tqdm(range(0, len(planes), CALIBRATION_BATCH), desc="calibrating", unit="batch",
                          disable=not progress):
            prepared(torch.from_numpy(planes[start:start + CALIBRATION_BATCH]))
    quantized = convert(prepared, inplace=True)
    summary = CalibrationSummary("ptq-histogram", len(planes), source, time.perf_counter() - started)
    return quantized, summary


def legal_move_mask(legal_indices: Sequence[np.ndarray], policy_size: int) -> np.ndarray:
    """Boolean ``[N, policy_size]`` mask of the legal moves of each position."""
    mask = np.zeros((len(legal_indices), policy_size), dtype=bool)
    for row, indices in enumerate(legal_indices):
        mask[row, indices] = True
    return mask


def distillation_loss(student: tuple[torch.Tensor, torch.Tensor], teacher: tuple[torch.Tensor, torch.Tensor],
                      legal: torch.Tensor) -> torch.Tensor:
    """KL(teacher || student) on the legal-move policy plus cross-entropy of the WDL vs the teacher's."""
    student_policy, student_wdl = student
    teacher_policy, teacher_wdl = teacher
    student_log = torch.log_softmax(student_policy.masked_fill(~legal, ILLEGAL_LOGIT), dim=1)
    teacher_log = torch.log_softmax(teacher_policy.masked_fill(~legal, ILLEGAL_LOGIT), dim=1)
    policy_kl = (teacher_log.exp() * (teacher_log - student_log)).masked_fill(~legal, 0.0).sum(1).mean()
    wdl_ce = -(torch.softmax(teacher_wdl, dim=1) * torch.log_softmax(student_wdl, dim=1)).sum(1).mean()
    return policy_kl + wdl_ce


def qat_finetune(net: ChessNet, planes: np.ndarray, legal: np.ndarray, steps: int, source: str,
                 teacher: ChessNet | None = None, learning_rate: float = QAT_LEARNING_RATE,
                 batch_size: int = QAT_BATCH, seed: int = 0, progress: bool = True,
                 loss_fn: Callable[..., torch.Tensor] = distillation_loss) -> tuple[ChessNet, CalibrationSummary]:
    """Quantization-aware fine-tuning of a copy of ``net``, converted to the int8-static format.

    :param planes: training positions ``[N,112,8,8]``; ``legal`` is their ``[N,1858]`` legal-move mask.
    :param teacher: float net giving the targets (default: ``net`` itself, i.e. self-distillation).
    :param steps: optimizer steps. Activation ranges are calibrated first (as in PTQ) on up to
        ``QAT_CALIBRATION_POSITIONS`` positions and then frozen; weight ranges follow the weights.
        The student runs in eval mode, so batch norm keeps its running statistics and step 0 is
        the PTQ net.
    :param loss_fn: ``loss_fn((policy, wdl), (teacher_policy, teacher_wdl), legal_mask)``; a
        training command may pass a loss on game targets instead.
    """
    from tqdm import tqdm

    started = time.perf_counter()
    teacher = (teacher if teacher is not None else copy.deepcopy(net)).eval()
    float_layers = float_layer_names(net)
    student = _prepare_static(copy.deepcopy(net), qat_qconfig(activation_reduce_range()), float_layers, qat=True)
    student.eval()  # batch norm (fused or float) keeps its running statistics; fake quantization stays on
    planes_tensor = torch.from_numpy(planes)
    legal_tensor = torch.from_numpy(legal)
    with torch.no_grad():
        for start in range(0, min(len(planes), QAT_CALIBRATION_POSITIONS), CALIBRATION_BATCH):
            student(planes_tensor[start:start + CALIBRATION_BATCH])
    student.apply(disable_observer)
    optimizer = torch.optim.Adam(student.parameters(), lr=learning_rate)
    generator = np.random.default_rng(seed)
    for _ in tqdm(range(steps), desc="QAT", unit="step", disable=not progress):
        rows = torch.from_numpy(generator.choice(len(planes), size=min(batch_size, len(planes)), replace=False))
        batch = planes_tensor[rows]
        with torch.no_grad():
            teacher_policy, teacher_wdl, _ = teacher(batch)
        policy, wdl, _ = student(batch)
        loss = loss_fn((policy, wdl), (teacher_policy, teacher_wdl), legal_tensor[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    student.eval()
    quantized = convert(student, inplace=True)
    summary = CalibrationSummary("qat-distillation", len(planes), source, time.perf_counter() - started,
                                 steps=steps)
    return quantized, summary


def _input_shape() -> tuple[int, int, int]:
    from cython_ext.encoding import NUM_INPUT_PLANES

    return (NUM_INPUT_PLANES, 8, 8)
