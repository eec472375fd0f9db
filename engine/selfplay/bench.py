"""``engine selfplay-bench``: self-play throughput per inference precision, and where the time goes.

The real pool (actor processes and the inference-server process) plays self-play moves with the
same net and playouts at each precision; the precisions take turns for ``--rounds`` rounds of
``--seconds`` each (interleaved, so that a machine whose speed drifts treats them alike), and the
figures are summed per precision. Start-up (loading, int8 calibration) is outside the timed part.

Time split, in seconds of the actor: ``state`` (move generation, make/unmake, terminal checks),
``encoding`` (input planes), ``tree`` (selection, expansion, backup), ``actor python`` (the
step loop, copies into shared memory, move choice, records) -- all measured in the actor -- and
``network`` (the server's forward passes) and ``wait/IPC`` (the rest of the time the actor waited
for answers: batching wait, pipe messages, the server's copies).

Example::

    engine selfplay-bench --net nets/default.pt --precisions fp32,amp,int8-static --playouts 100
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import tempfile
import time
from typing import Any

from engine.selfplay.config import PRECISIONS, RunConfig
from engine.selfplay.local import LocalPool, _merge

SPLIT_NAMES = ("state", "encoding", "tree", "actor python", "network", "wait/IPC")


def measure(config: RunConfig, net: str, seconds: float, rounds: int, precisions: list[str]) -> dict[str, Any]:
    """Interleaved rounds; returns per-precision sums."""
    results: dict[str, Any] = {p: {"seconds": 0.0, "positions": 0, "leaves": 0, "games": 0, "plies": 0, "stats": {},
                                   "server": {"batches": 0, "positions": 0, "network_seconds": 0.0},
                                   "description": ""} for p in precisions}
    for round_index in range(rounds):
        for precision in precisions:
            config.inference.precision = precision
            config.actor.seed = round_index
            with tempfile.TemporaryDirectory() as folder:
                pool = LocalPool(config, pathlib.Path(folder), net, [0] * config.actor.actors)
                try:
                    record = results[precision]
                    record["description"] = pool.description
                    finished: list[dict[str, Any]] = []
                    before = pool.server_stats()
                    started = time.monotonic()
                    stats = pool.play(10**9, 0, finished.append, deadline=started + seconds)
                    record["seconds"] += time.monotonic() - started
                    after = pool.server_stats()
                finally:
                    pool.close()
            record["positions"] += stats.get("positions", 0)
            record["leaves"] += stats.get("leaves", 0)
            record["games"] += len(finished)
            record["plies"] += sum(game["plies"] for game in finished)
            _merge(record["stats"], stats)
            for key in record["server"]:
                record["server"][key] += after[key] - before[key]
            print(f"[selfplay-bench] round {round_index + 1}/{rounds} {precision}: "
                  f"{stats.get('positions', 0) / seconds:.1f} moves/s, {stats.get('leaves', 0) / seconds:.0f} evaluations/s",
                  file=sys.stderr, flush=True)
    return results


def split(record: dict[str, Any]) -> dict[str, float]:
    seconds = record["stats"].get("seconds", {})
    network = record["server"]["network_seconds"]
    return {"state": seconds.get("state", 0.0), "encoding": seconds.get("encoding", 0.0),
            "tree": seconds.get("tree", 0.0), "actor python": seconds.get("actor python", 0.0),
            "network": network, "wait/IPC": max(seconds.get("network+wait", 0.0) - network, 0.0)}


def report(results: dict[str, Any], config: RunConfig, net: str) -> str:
    base = results.get("fp32") or next(iter(results.values()))
    lines = [f"self-play bench: {net}, {config.actor.actors} actor(s) x {config.actor.games_at_once} games, "
             f"{config.actor.playouts} playouts/move, server max batch {config.inference.max_batch}", "",
             "| precision | evaluations/s | vs fp32 | moves/s | games/hour* | mean batch | "
             + " | ".join(SPLIT_NAMES) + " |",
             "|---|---|---|---|---|---|" + "---|" * len(SPLIT_NAMES)]
    base_evals = base["leaves"] / max(base["seconds"], 1e-9)
    # One game length for all: the few games a round finishes are short ones (resignations) and vary.
    finished = sum(record["games"] for record in results.values())
    plies = sum(record["plies"] for record in results.values()) / finished if finished else float("nan")
    for precision, record in results.items():
        rate = record["positions"] / max(record["seconds"], 1e-9)
        evals = record["leaves"] / max(record["seconds"], 1e-9)
        games_per_hour = 3600 * rate / plies
        parts = split(record)
        total = sum(parts.values()) or 1.0
        mean_batch = record["server"]["positions"] / max(record["server"]["batches"], 1)
        lines.append(f"| {precision} | {evals:.0f} | {evals / base_evals:.2f}x | {rate:.1f} | {games_per_hour:.0f} | "
                     f"{mean_batch:.0f} | " + " | ".join(f"{100 * parts[name] / total:.1f}%" for name in SPLIT_NAMES)
                     + " |")
    lines += ["", "evaluations/s: positions the network evaluated for the search (new leaves; NN-cache hits and",
              "terminal leaves are not counted); moves/s: self-play moves made (searches finished).",
              f"*games/hour = moves/s x 3600 / {plies:.0f}, the mean plies of all games the bench finished."]
    return "\n".join(lines)


def plot(results: dict[str, Any], path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    names = list(results)
    rates = [results[p]["leaves"] / max(results[p]["seconds"], 1e-9) for p in names]
    left.bar(names, rates)
    left.set_ylabel("network evaluations/s in self-play")
    left.set_title("throughput per inference precision")
    bottom = [0.0] * len(names)
    for part in SPLIT_NAMES:
        shares = []
        for p in names:
            parts = split(results[p])
            shares.append(100 * parts[part] / (sum(parts.values()) or 1.0))
        right.bar(names, shares, bottom=bottom, label=part)
        bottom = [b + s for b, s in zip(bottom, shares)]
    right.set_ylabel("% of actor time")
    right.set_title("time split inside self-play")
    right.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="engine selfplay-bench", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--net", required=True, help="fp32 net file")
    parser.add_argument("--precisions", default="fp32,amp,int8-static")
    parser.add_argument("--playouts", type=int, default=100)
    parser.add_argument("--games-at-once", type=int, default=32)
    parser.add_argument("--actors", type=int, default=1)
    parser.add_argument("--max-batch", type=int, default=512)
    parser.add_argument("--threads", type=int, default=0, help="server torch threads (0: all cores)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--seconds", type=float, default=60.0, help="timed seconds per precision and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", help="folder for bench.md, bench.json and bench.png")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    unknown = [p for p in precisions if p not in PRECISIONS]
    if unknown or not precisions:
        print(f"engine selfplay-bench: unknown precision {unknown}; choose from {', '.join(PRECISIONS)}", file=sys.stderr)
        return 2
    if not pathlib.Path(args.net).is_file():
        print(f"engine selfplay-bench: --net {args.net}: no such file", file=sys.stderr)
        return 2
    config = RunConfig()
    config.actor.actors, config.actor.games_at_once, config.actor.playouts = args.actors, args.games_at_once, args.playouts
    config.inference.max_batch, config.inference.threads, config.inference.device = args.max_batch, args.threads, args.device
    from engine.selfplay.config import ConfigError, validate

    import torch

    try:
        for precision in precisions:
            config.inference.precision = precision
            validate(config, torch.cuda.is_available())
    except ConfigError as error:
        print(f"engine selfplay-bench: {error}", file=sys.stderr)
        return 2
    results = measure(config, args.net, args.seconds, args.rounds, precisions)
    text = report(results, config, args.net)
    print(text)
    if args.out:
        out = pathlib.Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "bench.md").write_text(text + "\n")
        (out / "bench.json").write_text(json.dumps(results, indent=1) + "\n")
        plot(results, out / "bench.png")
    return 0
