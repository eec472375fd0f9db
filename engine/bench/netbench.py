"""``engine netbench``: network throughput per precision, backend and batch size.

For each precision, backend (``--backend`` takes a comma-separated list, e.g.
``winograd,onnxruntime,torch``) and batch: positions/s, latency per batch, peak memory, file
size, and the ratio to the first fp32 row measured in the same run at the same batch. With
``--arch`` (or an fp32 ``--net``) int8-static is calibrated on generated positions first. Timed with all inputs pre-encoded, so
only the network is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np
import torch

from engine.nn.evaluator import PRECISIONS, Evaluator, available_cores, make_evaluator, resolve_device, set_threads
from engine.nn.model import ChessNet, NetConfig, random_net
from engine.nn.loader import read_net_file
from engine.nn.netfile import NetFileError, build_metadata, instantiate, save_net
from engine.nn.positions import encode_positions, generate_positions
from engine.nn.quantize import quantize_net

DEFAULT_PRECISIONS = "fp32,amp,int8-dynamic,int8-static"
DEFAULT_BATCHES = "1,8,32,128"
DEFAULT_MIN_SECONDS = 1.0
MIN_TIMED_RUNS = 3
WARMUP_RUNS = 2
BENCH_CALIBRATION_POSITIONS = 1024
BENCH_SEED = 12345
PROC_CLEAR_REFS = "/proc/self/clear_refs"
PROC_STATUS = "/proc/self/status"
RESET_PEAK_RSS = "5"
BYTES_PER_MB = 1e6
BUSY_LOAD_MARGIN = 0.5
"""Load average beyond the cores left free that triggers the contention warning."""


@dataclass
class BenchRow:
    """One measurement."""

    precision: str
    backend: str
    """What ran it (``Evaluator.backend``); empty where unknown (rows read back from a report)."""
    batch: int
    positions_per_s: float
    latency_ms: float
    ratio_to_fp32: float | None
    file_mb: float
    peak_mb: float
    runs: int


def reset_peak_memory(device: torch.device) -> None:
    """Reset the peak-memory counter (CUDA allocator, or Linux VmHWM via clear_refs)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:
        with open(PROC_CLEAR_REFS, "w", encoding="ascii") as handle:
            handle.write(RESET_PEAK_RSS)
    except OSError:
        pass


def peak_memory_mb(device: torch.device) -> float:
    """Peak CUDA allocation, or the process's peak resident set (VmHWM) since the last reset.

    On CPU this is the whole process (interpreter, torch, the float net the variants derive from).
    """
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / BYTES_PER_MB
    try:
        with open(PROC_STATUS, encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / BYTES_PER_MB
    except OSError:
        pass
    return float("nan")


def time_batches(evaluator: Evaluator, planes: np.ndarray, min_seconds: float) -> tuple[float, int]:
    """Mean seconds per ``evaluate(planes)`` over at least ``min_seconds`` and ``MIN_TIMED_RUNS`` runs."""
    for _ in range(WARMUP_RUNS):
        evaluator.evaluate(planes)
    runs = 0
    started = time.perf_counter()
    while runs < MIN_TIMED_RUNS or time.perf_counter() - started < min_seconds:
        evaluator.evaluate(planes)
        runs += 1
    if evaluator.device.type == "cuda":
        torch.cuda.synchronize(evaluator.device)
    return (time.perf_counter() - started) / runs, runs


def file_size_mb(module: torch.nn.Module, config: NetConfig, precision: str, info: dict | None) -> float:
    """Size of the net file that would hold ``module``."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "net.pt")
        return save_net(path, module, build_metadata(config, precision, info)) / BYTES_PER_MB


def build_evaluators(args: argparse.Namespace, precisions: list[str]) -> Iterator[tuple[str, Evaluator, float]]:
    """``(precision, evaluator, file MB)`` one at a time for each precision and backend (int8-static
    calibrated here when the net is float); a backend that cannot run a precision is skipped with a
    message.

    Built lazily so that each row's peak memory holds one variant of the net, not all of them.
    """
    backends = [name.strip() for name in args.backend.split(",") if name.strip()]
    if args.net:
        net_file = read_net_file(args.net)
        net, config, stored = instantiate(net_file), net_file.config, net_file.precision
        source, stored_graph = args.net, net_file.onnx_model
    else:
        config = NetConfig.from_arch(args.arch)
        net, stored, source = random_net(config, seed=args.seed), "fp32", f"random {config.name}"
        stored_graph = None
    for precision in precisions:
        module, module_precision, info, graph = net, stored, None, stored_graph
        if stored == "fp32" and isinstance(net, ChessNet) and precision in ("int8-static", "int8-dynamic"):
            print(f"netbench: quantizing {config.name} to {precision}"
                  + (f" (calibrating on {args.calib_positions} generated positions)"
                     if precision == "int8-static" else ""), file=sys.stderr)
            boards = generate_positions(args.calib_positions, seed=args.seed) if precision == "int8-static" else []
            quantized = quantize_net(net, precision, boards, "generated", progress=not args.json)
            module, module_precision, info = quantized.module, quantized.precision, quantized.info
            graph = quantized.onnx_model
        file_mb = file_size_mb(module, config, module_precision, info)
        for backend in backends:
            try:
                evaluator = make_evaluator(module, config, module_precision, precision, args.device, source=source,
                                           backend=backend, onnx_model=graph)
            except NetFileError as error:
                print(f"netbench: skipping {precision} on {backend}: {error}", file=sys.stderr)
                continue
            yield precision, evaluator, file_mb


def run_bench(args: argparse.Namespace) -> list[BenchRow]:
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    unknown = [p for p in precisions if p not in PRECISIONS]
    if unknown:
        raise ValueError(f"unknown precision(s) {unknown}; choose from {', '.join(PRECISIONS)}")
    precisions.sort(key=lambda p: p != "fp32")  # fp32 first: the reference for ratios
    batch_sizes = [int(b) for b in args.batches.split(",") if b.strip()]
    planes = encode_positions(generate_positions(max(batch_sizes), seed=args.seed + 1))
    device = resolve_device(args.device)
    rows: list[BenchRow] = []
    fp32_rate: dict[int, float] = {}
    for precision, evaluator, file_mb in build_evaluators(args, precisions):
        for batch in batch_sizes:
            reset_peak_memory(device)
            seconds, runs = time_batches(evaluator, planes[:batch], args.seconds)
            rate = batch / seconds
            if precision == "fp32" and batch not in fp32_rate:
                fp32_rate[batch] = rate
            ratio = rate / fp32_rate[batch] if batch in fp32_rate else None
            row = BenchRow(precision, evaluator.backend, batch, rate, seconds * 1000, ratio, file_mb,
                           peak_memory_mb(device), runs)
            rows.append(row)
            print(json.dumps(_rounded(asdict(row))) if args.json else _format_row(row), flush=True)
    return rows


def _rounded(values: dict) -> dict:
    return {key: round(value, 4) if isinstance(value, float) else value for key, value in values.items()}


def _format_row(row: BenchRow) -> str:
    ratio = f"{row.ratio_to_fp32:6.2f}x" if row.ratio_to_fp32 is not None else "      -"
    return (f"{row.precision:<13} {row.backend:<11} {row.batch:>5} {row.positions_per_s:>11.1f} {row.latency_ms:>10.2f} "
            f"{ratio} {row.peak_mb:>9.0f} {row.file_mb:>8.1f}")


def write_plot(rows: list[BenchRow], path: str, title: str | None = None) -> None:
    """Positions/s against batch size, one line per precision and backend (needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(6, 4))
    for precision, backend in dict.fromkeys((row.precision, row.backend) for row in rows):
        selected = [row for row in rows if (row.precision, row.backend) == (precision, backend)]
        axes.plot([r.batch for r in selected], [r.positions_per_s for r in selected], marker="o",
                  label=f"{precision} ({backend})" if backend else precision)
    axes.set_xscale("log", base=2)
    axes.set_xlabel("batch size")
    axes.set_ylabel("positions / s")
    axes.set_title(title or f"engine netbench ({torch.get_num_threads()} threads)")
    axes.legend()
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="engine netbench", description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--net", metavar="FILE", help="net file to benchmark")
    source.add_argument("--arch", default="128x10", help="random net of this architecture (default %(default)s)")
    parser.add_argument("--precisions", default=DEFAULT_PRECISIONS, help="comma-separated (default %(default)s)")
    parser.add_argument("--batches", default=DEFAULT_BATCHES, help="comma-separated (default %(default)s)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default %(default)s)")
    parser.add_argument("--backend", default="torch",
                        help="comma-separated: torch, onnxruntime, winograd or auto (as the engine's Backend "
                             "option); every precision runs on each that can run it (default %(default)s)")
    parser.add_argument("--seconds", type=float, default=DEFAULT_MIN_SECONDS, help="minimum time per row")
    parser.add_argument("--calib-positions", type=int, default=BENCH_CALIBRATION_POSITIONS,
                        help="generated positions to calibrate int8-static on")
    parser.add_argument("--seed", type=int, default=BENCH_SEED)
    parser.add_argument("--json", action="store_true", help="one JSON object per row")
    parser.add_argument("--plot", metavar="PNG", help="write a positions/s plot")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    threads = set_threads(args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"netbench: {threads} torch threads, load average {load:.2f}, torch {torch.__version__}",
          file=sys.stderr)
    if load + threads > available_cores() + BUSY_LOAD_MARGIN:
        print(f"netbench: warning: other processes keep {load:.1f} cores busy; {threads} torch threads on "
              f"{available_cores()} cores will be slowed down unevenly (try --threads 1)", file=sys.stderr)
    if not args.json:
        print(f"{'precision':<13} {'backend':<11} {'batch':>5} {'positions/s':>11} {'latency_ms':>10} {'vs_fp32':>7} "
              f"{'peak_mb':>9} {'file_mb':>8}")
    try:
        rows = run_bench(args)
    except (NetFileError, ValueError) as error:
        print(f"netbench: {error}", file=sys.stderr)
        return 1
    if args.plot:
        write_plot(rows, args.plot)
        print(f"netbench: wrote {args.plot}", file=sys.stderr)
    return 0
