"""``engine train``: supervised training of the network on ``engine datagen`` folders.

Loss = cross-entropy of the policy against the MultiPV target + cross-entropy of the WDL head
against the blended value target (see :mod:`engine.training.dataset`). AdamW with a linear warm-up and a
cosine decay, validation on whole held-out games, a CSV row per logging interval, PNG curves,
a resumable checkpoint, and a net file at the end (FP32; derive INT8 with ``engine quantize``).

Reproducible: the data order and the initial weights come from ``--seed`` (the validation split
too, unless ``--split-seed`` is given); on CPU the same command
gives the same net (GPU kernels may differ in the last bits).

Example::

    engine train --data data/sf3k --arch 64x6-se4 --steps 20000 --out nets/default.pt
"""

from __future__ import annotations

import argparse
import csv
import math
import pathlib
import sys
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from engine.training.dataset import (DEFAULT_POLICY_TEMPERATURE_CP, DEFAULT_RESULT_WEIGHT, TrainingSet,
                            load_training_set, unpack_planes)
from engine.nn.model import ChessNet, NetConfig
from engine.nn.loader import load_net
from engine.nn.netfile import build_metadata, save_net

DEFAULT_ARCH = "64x6-se4"
DEFAULT_BATCH = 1024
DEFAULT_LEARNING_RATE = 2e-3
DEFAULT_WEIGHT_DECAY = 1e-4
DEFAULT_VALIDATION_FRACTION = 0.03
WARMUP_FRACTION = 0.03
FINAL_LR_FRACTION = 0.02
VALUE_LOSS_WEIGHT = 1.0
VALIDATION_BATCH = 4096
CHECKPOINT_NAME = "checkpoint.pt"
METRICS_NAME = "metrics.csv"
CURVES_NAME = "curves.png"
METRIC_FIELDS = ("step", "positions", "elapsed_s", "lr", "train_policy_loss", "train_value_loss",
                 "train_top1", "val_policy_loss", "val_value_loss", "val_top1", "val_value_accuracy")


def training_memory_format(device: torch.device) -> torch.memory_format:
    """Layout of the net and its input batches while training.

    channels_last on CPU: oneDNN's convolutions run on NHWC without reorders; a 64x6 net's
    fp32 training step (batch 1024, AdamW) ran 1.17x as fast, interleaved rounds on a 2-core
    AVX2 machine. CUDA keeps the default layout (not measured there).
    """
    return torch.channels_last if device.type == "cpu" else torch.contiguous_format


class DeviceData:
    """A :class:`TrainingSet` as tensors on the training device, with batch unpacking."""

    def __init__(self, data: TrainingSet, device: torch.device) -> None:
        self.size = len(data)
        self.memory_format = training_memory_format(device)
        self.bits = torch.from_numpy(data.bits.view(np.int64)).to(device)
        self.rule50 = torch.from_numpy(data.rule50).to(device)
        self.policy_index = torch.from_numpy(data.policy_index.astype(np.int64)).to(device)
        self.policy_weight = torch.from_numpy(data.policy_weight).to(device)
        self.wdl = torch.from_numpy(data.wdl).to(device)

    def batch(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(planes, policy index, policy weight, wdl target) of ``rows``."""
        planes = unpack_planes(self.bits[rows], self.rule50[rows]).contiguous(memory_format=self.memory_format)
        return planes, self.policy_index[rows], self.policy_weight[rows], self.wdl[rows]


def losses(net: torch.nn.Module, planes: torch.Tensor, policy_index: torch.Tensor,
           policy_weight: torch.Tensor, wdl: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(policy loss, value loss, top-1 hits, value hits) of one batch.

    A top-1 hit: the policy's argmax is the teacher's move; a value hit: the most likely of
    win/draw/loss is the target's.
    """
    policy_logits, wdl_logits, _ = net(planes)
    log_policy = F.log_softmax(policy_logits.float(), dim=1)
    picked = log_policy.gather(1, policy_index.clamp(min=0))
    policy_loss = -(picked * policy_weight).sum(1).mean()
    value_loss = -(F.log_softmax(wdl_logits.float(), dim=1) * wdl).sum(1).mean()
    top1 = (policy_logits.argmax(1) == policy_index[:, 0]).float().sum()
    value_hits = (wdl_logits.argmax(1) == wdl.argmax(1)).float().sum()
    return policy_loss, value_loss, top1, value_hits


def learning_rate(progress: float, peak: float) -> float:
    """Linear warm-up over the first :data:`WARMUP_FRACTION` of training, then cosine down to
    ``FINAL_LR_FRACTION`` of the peak; ``progress`` runs from 0 to 1."""
    if progress < WARMUP_FRACTION:
        return peak * max(progress, 1e-3) / WARMUP_FRACTION
    decay = (progress - WARMUP_FRACTION) / (1 - WARMUP_FRACTION)
    return peak * (FINAL_LR_FRACTION + (1 - FINAL_LR_FRACTION) * 0.5 * (1 + math.cos(math.pi * min(decay, 1.0))))


@torch.no_grad()
def validate(net: torch.nn.Module, data: DeviceData) -> dict[str, float]:
    """Mean validation losses, top-1 agreement with the teacher and value accuracy (argmax W/D/L).

    Always in fp32, the precision the net file is saved in, so runs with and without bf16
    autocast report comparable figures.
    """
    net.eval()
    totals = np.zeros(4)
    for start in range(0, data.size, VALIDATION_BATCH):
        rows = torch.arange(start, min(start + VALIDATION_BATCH, data.size), device=data.bits.device)
        planes, index, weight, wdl = data.batch(rows)
        policy_loss, value_loss, top1, value_hits = losses(net, planes, index, weight, wdl)
        n = len(rows)
        totals += [policy_loss.item() * n, value_loss.item() * n, top1.item(), value_hits.item()]
    net.train()
    policy_loss, value_loss, top1, value_hits = totals / max(1, data.size)
    return {"val_policy_loss": float(policy_loss), "val_value_loss": float(value_loss),
            "val_top1": float(top1), "val_value_accuracy": float(value_hits)}


def format_metrics(metrics: dict[str, float]) -> str:
    """``val_policy_loss 2.2831, val_value_loss 0.6064, ...``: validation figures on one line."""
    return ", ".join(f"{key} {value:.4f}" for key, value in metrics.items())


def plot_curves(metrics_path: pathlib.Path, out: pathlib.Path, title: str) -> None:
    """Policy/value loss and top-1 curves (train and validation) from the metrics CSV."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(metrics_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for axis, (name, label) in zip(axes, (("policy_loss", "policy loss"), ("value_loss", "value loss (WDL CE)"),
                                          ("top1", "top-1 = teacher's move"))):
        for split, style in (("train", "-"), ("val", "o-")):
            points = [(int(row["positions"]), float(row[f"{split}_{name}"])) for row in rows
                      if row.get(f"{split}_{name}")]
            if points:
                xs, ys = zip(*points)
                axis.plot(xs, ys, style, label=split, markersize=3)
        axis.set_title(label)
        axis.set_xlabel("training positions seen")
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available")
    return torch.device(name)


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes in bfloat16 natively, so bf16 autocast speeds training up.

    True on CUDA and on CPUs with AVX512-BF16 or AMX (2.1x the fp32 training rate of a 64x6 net on
    2 cores of a Sapphire Rapids Xeon); elsewhere CPU bf16 is emulated and slower than fp32.
    """
    if device.type == "cuda":
        return True
    return any(getattr(torch.cpu, probe, lambda: False)()
               for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))


def train(args: argparse.Namespace, data: TrainingSet | None = None) -> dict[str, float]:
    """The training run described by the parsed command line; returns the final validation metrics.

    :param data: positions to train on instead of loading ``args.data`` (the self-play trainer
        passes its replay window; ``args.data`` then only names it in the provenance).
    """
    torch.manual_seed(args.seed)
    device = resolve_device(args.device)
    run_dir = pathlib.Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    initial = None
    if args.init:
        initial, initial_file = load_net(args.init)
        if initial_file.precision != "fp32":
            raise ValueError(f"--init needs an fp32 net, {args.init} holds {initial_file.precision}")
        config = initial_file.config
    else:
        config = NetConfig.from_arch(args.arch)
    if data is None:
        data = load_training_set(args.data, args.policy_temperature, args.result_weight,
                                 max_shards=args.max_shards, workers=args.loader_workers,
                                 progress=not args.no_progress,
                                 keep_duplicates=args.keep_duplicates)
    train_set, validation_set = data.split(args.validation_fraction,
                                               seed=args.seed if args.split_seed is None else args.split_seed)
    use_bf16 = native_bf16(device) and not args.no_amp
    print(f"{len(data)} positions: {len(train_set)} train, {len(validation_set)} validation "
          f"({len(np.unique(validation_set.game))} held-out games); net {config.name}, device {device}"
          f"{' (bf16 autocast)' if use_bf16 else ''}", file=sys.stderr)
    train_data, validation_data = DeviceData(train_set, device), DeviceData(validation_set, device)

    net = (initial if initial is not None else ChessNet(config)).to(device, memory_format=training_memory_format(device))
    optimizer = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    step = 0
    checkpoint_path = run_dir / CHECKPOINT_NAME
    metrics_path = run_dir / METRICS_NAME
    if checkpoint_path.exists() and not args.restart:
        checkpoint = torch.load(checkpoint_path, map_location=device, weights_only=True)
        if checkpoint["arch"] != config.name or checkpoint["steps"] != args.steps:
            raise ValueError(f"{checkpoint_path} is a {checkpoint['arch']} run of {checkpoint['steps']} "
                             "steps; use --restart or another --run-dir")
        net.load_state_dict(checkpoint["net"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        step = checkpoint["step"]
        print(f"resumed {checkpoint_path} at step {step}", file=sys.stderr)
    elif metrics_path.exists():
        metrics_path.unlink()

    def autocast() -> Any:
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16)

    generator = torch.Generator(device="cpu").manual_seed(args.seed)
    permutation = torch.randperm(train_data.size, generator=generator)
    cursor = (step * args.batch) % train_data.size
    for _ in range(step * args.batch // train_data.size):  # same epoch orders as a straight run
        permutation = torch.randperm(train_data.size, generator=generator)

    new_file = not metrics_path.exists()
    metrics_file = open(metrics_path, "a", newline="")
    writer = csv.DictWriter(metrics_file, fieldnames=METRIC_FIELDS)
    if new_file:
        writer.writeheader()
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=args.steps, initial=step, unit="step", desc=f"train {config.name}")
    if initial is not None and step == 0:
        # A fine-tune's starting point on the same held-out games: the row to compare against.
        start_metrics = validate(net, validation_data)
        writer.writerow({"step": 0, "positions": 0, "elapsed_s": 0.0, "lr": 0,
                         **{key: f"{value:.5f}" for key, value in start_metrics.items()}})
        metrics_file.flush()
        print(f"{args.init} before training: {format_metrics(start_metrics)}", file=sys.stderr)
    started = time.monotonic()
    running = torch.zeros(3, device=device)
    running_count = 0
    final: dict[str, float] = {}
    stopped_by_time = False
    net.train()
    while step < args.steps and not stopped_by_time:
        if cursor + args.batch > train_data.size:
            permutation = torch.randperm(train_data.size, generator=generator)
            cursor = 0
        rows = permutation[cursor:cursor + args.batch].to(device)
        cursor += args.batch
        # With --time-limit the schedule follows whichever runs out first, steps or time, so a
        # run cut short by the clock still ends annealed.
        progress = step / args.steps
        if args.time_limit:
            progress = max(progress, (time.monotonic() - started) / args.time_limit)
        lr = learning_rate(progress, args.lr)
        for group in optimizer.param_groups:
            group["lr"] = lr
        planes, index, weight, wdl = train_data.batch(rows)
        with autocast():
            policy_loss, value_loss, top1, _ = losses(net, planes, index, weight, wdl)
        loss = policy_loss + VALUE_LOSS_WEIGHT * value_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), args.clip_norm)
        optimizer.step()
        step += 1
        if args.time_limit and time.monotonic() - started >= args.time_limit:
            stopped_by_time = True
        running += torch.stack([policy_loss.detach(), value_loss.detach(), top1 / len(rows)])  # no sync
        running_count += 1
        if bar is not None:
            bar.update(1)
        last = step == args.steps or stopped_by_time
        if step % args.log_every == 0 or last:
            row: dict[str, Any] = {"step": step, "positions": step * args.batch,
                                   "elapsed_s": round(time.monotonic() - started, 1), "lr": f"{lr:.6g}"}
            row.update(zip(("train_policy_loss", "train_value_loss", "train_top1"),
                           (f"{v:.5f}" for v in (running / running_count).tolist())))
            running.zero_()
            running_count = 0
            if step % args.eval_every == 0 or last:
                final = validate(net, validation_data)
                row.update({key: f"{value:.5f}" for key, value in final.items()})
                if bar is not None:
                    bar.set_postfix_str(f"val policy {final['val_policy_loss']:.3f} top1 "
                                        f"{final['val_top1']:.3f} value {final['val_value_loss']:.3f}")
                torch.save({"arch": config.name, "steps": args.steps, "step": step,
                            "net": net.state_dict(), "optimizer": optimizer.state_dict()}, checkpoint_path)
            writer.writerow(row)
            metrics_file.flush()
    metrics_file.close()
    if not final:  # resumed a finished run
        final = validate(net, validation_data)
    if bar is not None:
        bar.close()
    plot_curves(metrics_path, run_dir / CURVES_NAME, f"{config.name} on {', '.join(map(str, args.data))}")
    provenance = {"command": "engine train " + " ".join(args.argv), "positions": len(data),
                  "initial_net": (read_provenance(args.init) if args.init else None),
                  "train_positions": len(train_set), "validation_positions": len(validation_set),
                  "steps": step, "steps_planned": args.steps, "batch": args.batch, "seed": args.seed,
                  "validation": {key: round(value, 5) for key, value in final.items()}}
    net = net.float().cpu().eval().to(memory_format=torch.contiguous_format)
    size = save_net(args.out, net, build_metadata(config, "fp32", provenance=provenance))
    print(f"wrote {args.out} ({size / 1e6:.1f} MB); validation: "
          + format_metrics(final))
    return final


def read_provenance(path: str) -> dict[str, Any]:
    """The provenance stored in a net file (what a fine-tuned net started from)."""
    from engine.nn.loader import read_net_file

    return dict(read_net_file(path).metadata.get("provenance") or {})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="engine train", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Example: engine train --data data/sf3k --steps 20000 --out nets/default.pt")
    parser.add_argument("--data", nargs="+", required=True, help="engine datagen folders")
    parser.add_argument("--out", required=True, help="net file written at the end (FP32)")
    parser.add_argument("--arch", default=DEFAULT_ARCH, help="FILTERSxBLOCKS[-seRATIO] (default %(default)s)")
    parser.add_argument("--init", help="fp32 net file to start from (fine-tuning; its architecture wins over --arch)")
    parser.add_argument("--steps", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH)
    parser.add_argument("--lr", type=float, default=DEFAULT_LEARNING_RATE, help="peak learning rate (AdamW)")
    parser.add_argument("--weight-decay", type=float, default=DEFAULT_WEIGHT_DECAY)
    parser.add_argument("--clip-norm", type=float, default=10.0, help="gradient norm clip")
    parser.add_argument("--policy-temperature", type=float, default=DEFAULT_POLICY_TEMPERATURE_CP,
                        help="centipawns; softmax temperature of the MultiPV policy target")
    parser.add_argument("--result-weight", type=float, default=DEFAULT_RESULT_WEIGHT,
                        help="weight of the game result in the value target (rest: Stockfish's WDL)")
    parser.add_argument("--validation-fraction", type=float, default=DEFAULT_VALIDATION_FRACTION)
    parser.add_argument("--run-dir", default="runs/train", help="checkpoint, metrics.csv and curves.png")
    parser.add_argument("--restart", action="store_true", help="ignore a checkpoint in --run-dir")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--no-amp", action="store_true", help="train in fp32 (default: bf16 autocast, with fp32 weights, "
                        "on CUDA and on CPUs with native bf16)")
    parser.add_argument("--log-every", type=int, default=100)
    parser.add_argument("--eval-every", type=int, default=1000)
    parser.add_argument("--keep-duplicates", action="store_true",
                        help="train on repeated positions too (datagen keeps only the first occurrence)")
    parser.add_argument("--max-shards", type=int, help="use only the first N shards (quick runs)")
    parser.add_argument("--loader-workers", type=int, help="processes replaying shards (default: cores, <= 8)")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--time-limit", type=float,
                        help="seconds; stop then (the LR schedule follows steps or time, whichever ends first)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split-seed", type=int,
                        help="seed of the train/validation split (default: --seed); a continued run keeps its "
                             "predecessor's split and draws a new data order with a new --seed")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    for name in ("steps", "batch", "log_every", "eval_every"):
        if getattr(args, name) < 1:
            print(f"error: --{name.replace('_', '-')} must be at least 1", file=sys.stderr)
            return 2
    if not 0 < args.validation_fraction < 1 or not 0 <= args.result_weight <= 1 or args.policy_temperature <= 0:
        print("error: need 0 < --validation-fraction < 1, 0 <= --result-weight <= 1, "
              "--policy-temperature > 0", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        train(args)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
