"""``engine quantize``: derive an int8 net file (dynamic, static PTQ or QAT) from an fp32 net file.

Calibration positions come from ``--calib`` (FEN/EPD lines or PGN games), expanded to
``--positions`` by random legal continuations so that calibration also sees middlegames. The
result is checked against the fp32 net on held-out positions derived from the same file (with
another seed) and the figures are stored in the output file's calibration summary.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from cython_ext.encoding import NUM_POLICY_MOVES, legal_policy
from cython_ext.position import Board
from engine.nn import ort, quantization
from engine.nn.evaluator import make_evaluator, set_threads
from engine.nn.model import ChessNet
from engine.nn.netcompare import compare_evaluators
from engine.nn.loader import load_net
from engine.nn.netfile import NetFileError, build_metadata, save_net
from engine.nn.positions import PositionReport, encode_positions, expand_positions, generate_positions, read_positions

MODES = ("int8-static", "int8-dynamic", "qat")
DEFAULT_CALIBRATION_POSITIONS = 1024
DEFAULT_QAT_STEPS = 300
DEFAULT_VALIDATION_POSITIONS = 1000
VALIDATION_SEED_OFFSET = 1_000_003


@dataclass
class QuantizedNet:
    """What :func:`quantize_net` makes: the torch module, its stored precision, the file's
    quantization metadata, and the ONNX Runtime int8 graph (int8-static only)."""

    module: nn.Module
    precision: str
    info: dict[str, Any]
    onnx_model: bytes | None = None


def quantize_net(net: ChessNet, mode: str, boards: Sequence[Board], source: str,
                 qat_steps: int = DEFAULT_QAT_STEPS, qat_learning_rate: float = quantization.QAT_LEARNING_RATE,
                 seed: int = 0, progress: bool = True) -> QuantizedNet:
    """Quantize fp32 ``net`` in ``mode``.

    :param boards: calibration (``int8-static``) or fine-tuning (``qat``) positions; unused by
        ``int8-dynamic``. ``int8-static`` calibrates torch's int8 net and, where ONNX Runtime is
        installed, its int8 graph (:func:`engine.nn.ort.quantize_onnx`) on the same positions.
    """
    info: dict[str, Any]
    if mode == "int8-dynamic":
        info = {"backend": quantization.QUANTIZED_ENGINE, "scheme": quantization.DYNAMIC_SCHEME,
                "float_layers": ["all convolutions"], "calibration": None}
        return QuantizedNet(quantization.dynamic_quantize(net), "int8-dynamic", info)
    if mode not in ("int8-static", "qat"):
        raise ValueError(f"unknown quantization mode {mode!r}; one of {MODES}")
    planes = encode_positions(boards)
    onnx_model = None
    if mode == "int8-static":
        module, summary = quantization.static_quantize(net, planes, source, progress=progress)
        if ort.available():
            onnx_model = ort.quantize_onnx(ort.export_onnx(net), planes)
    else:
        legal = quantization.legal_move_mask([legal_policy(board)[1] for board in boards], NUM_POLICY_MOVES)
        module, summary = quantization.qat_finetune(net, planes, legal, qat_steps, source,
                                                    learning_rate=qat_learning_rate, seed=seed, progress=progress)
    info = {"backend": quantization.QUANTIZED_ENGINE, "scheme": quantization.STATIC_SCHEME,
            "reduce_range": quantization.activation_reduce_range(),
            "float_layers": quantization.float_layer_names(net), "calibration": summary.to_dict(),
            "onnxruntime": None if onnx_model is None else ort.calibration_summary(boards, source)}
    return QuantizedNet(module, "int8-static", info, onnx_model)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="engine quantize", description=__doc__.split("\n")[0])
    parser.add_argument("--net", required=True, metavar="IN", help="fp32 net file")
    parser.add_argument("--mode", required=True, choices=MODES)
    parser.add_argument("--calib", metavar="FILE",
                        help="FEN/EPD or PGN positions (required except for int8-dynamic); also seeds validation")
    parser.add_argument("--out", required=True, metavar="OUT", help="output net file")
    parser.add_argument("--positions", type=int, default=DEFAULT_CALIBRATION_POSITIONS,
                        help="calibration / QAT positions (default %(default)s)")
    parser.add_argument("--steps", type=int, default=DEFAULT_QAT_STEPS, help="QAT optimizer steps")
    parser.add_argument("--lr", type=float, default=quantization.QAT_LEARNING_RATE, help="QAT Adam learning rate")
    parser.add_argument("--validate", type=int, default=DEFAULT_VALIDATION_POSITIONS,
                        help="held-out positions for the fp32 agreement check (0 skips it)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    set_threads(args.threads)
    try:
        net, net_file = load_net(args.net)
    except NetFileError as error:
        print(f"quantize: {error}", file=sys.stderr)
        return 1
    if net_file.precision != "fp32" or not isinstance(net, ChessNet):
        print(f"quantize: {args.net} holds {net_file.precision} weights; quantize from an fp32 net", file=sys.stderr)
        return 1
    if args.mode != "int8-dynamic" and not args.calib:
        print(f"quantize: --calib FILE is required for {args.mode}", file=sys.stderr)
        return 2
    read: list[Board] | None = None  # None: validate on positions generated from the opening book
    boards: list[Board] = []
    if args.calib:
        report = PositionReport(args.calib)
        read = read_positions(args.calib, report=report)
        print(report.describe(), file=sys.stderr)
        if not read:
            print(f"quantize: no usable positions in {args.calib}", file=sys.stderr)
            return 1
        boards = expand_positions(read, args.positions, seed=args.seed)
    quantized = quantize_net(net, args.mode, boards, args.calib or "", qat_steps=args.steps,
                             qat_learning_rate=args.lr, seed=args.seed, progress=not args.no_progress)
    info = quantized.info
    if args.validate:
        held_out = generate_positions(args.validate, seed=args.seed + VALIDATION_SEED_OFFSET, starts=read)
        reference = make_evaluator(net, net_file.config, "fp32", device="cpu", backend="torch")
        backends = ["torch"] + (["onnxruntime"] if quantized.onnx_model is not None else [])
        for backend in backends:
            comparison = compare_evaluators(reference, make_evaluator(
                quantized.module, net_file.config, quantized.precision, device="cpu", backend=backend,
                onnx_model=quantized.onnx_model), held_out)
            print(f"held-out check vs fp32 ({backend}): {comparison.describe()}", file=sys.stderr)
            figures = {"positions": comparison.positions, "top1_agreement": comparison.top1_agreement,
                       "kl_mean": comparison.kl_mean, "wdl_max_abs": comparison.wdl_max_abs}
            if backend == "torch":
                info["validation"] = figures
            else:
                info["onnxruntime"]["validation"] = figures
    provenance = dict(net_file.metadata.get("provenance") or {})
    provenance.update({"derived_from": args.net, "quantization_mode": args.mode,
                       "command": "engine quantize " + shlex.join(argv)})
    size = save_net(args.out, quantized.module, build_metadata(net_file.config, quantized.precision, info, provenance),
                    onnx_model=quantized.onnx_model)
    print(f"wrote {args.out}: {net_file.config.name} {quantized.precision} ({args.mode}"
          f"{', with its ONNX Runtime graph' if quantized.onnx_model is not None else ''}), {size / 1e6:.1f} MB")
    return 0

