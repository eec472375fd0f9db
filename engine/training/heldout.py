"""Validation figures of several nets on the same held-out games of ``engine datagen`` folders.

    engine heldout --data data/sf3k data/gpu3k data/start3k --keep-duplicates \\
        --games 4400:10500 nets/old.pt nets/default.pt nets/default-int8.pt

The split is ``engine train``'s (same folders, ``--validation-fraction`` and ``--seed``), so the
positions are the validation games of that training run; ``--games FROM:TO`` keeps only held-out
games whose global number (folders in order, games counted from 0) is in that range, e.g. games
generated after an older net was trained, so that no compared net has seen them. Prints the
figures ``engine train`` logs (policy cross-entropy, top-1 = the teacher's move, WDL
cross-entropy and accuracy), computed in fp32 for FP32 files and in the file's precision for
quantized ones.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from engine.training.dataset import DEFAULT_POLICY_TEMPERATURE_CP, DEFAULT_RESULT_WEIGHT, load_training_set
from engine.nn.loader import load_net
from engine.nn.netfile import NetFileError
from engine.training.train import DEFAULT_VALIDATION_FRACTION, DeviceData, format_metrics, validate


def parse_game_range(text: str) -> tuple[int, int]:
    """``"FROM:TO"`` -> (from, to), either side may be empty (open)."""
    low, sep, high = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected FROM:TO, got {text!r}")
    try:
        return int(low or 0), int(high) if high else np.iinfo(np.int32).max
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected FROM:TO with integers, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="engine heldout", description=__doc__.split("\n\n")[0])
    parser.add_argument("nets", nargs="+", help="net files to compare")
    parser.add_argument("--data", nargs="+", required=True, help="engine datagen folders, as given to engine train")
    parser.add_argument("--validation-fraction", type=float, default=DEFAULT_VALIDATION_FRACTION)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep-duplicates", action="store_true")
    parser.add_argument("--games", type=parse_game_range, default=(0, np.iinfo(np.int32).max),
                        help="keep held-out games numbered FROM:TO (TO excluded)")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_training_set(args.data, DEFAULT_POLICY_TEMPERATURE_CP, DEFAULT_RESULT_WEIGHT,
                             keep_duplicates=args.keep_duplicates, progress=False)
    _, validation = data.split(args.validation_fraction, seed=args.seed)
    low, high = args.games
    rows = np.flatnonzero((validation.game >= low) & (validation.game < high))
    if len(rows) == 0:
        print(f"error: no held-out game in {low}:{high}", file=sys.stderr)
        return 2
    subset = DeviceData(validation.subset(rows), torch.device("cpu"))
    print(f"{len(rows)} positions of {len(np.unique(validation.game[rows]))} held-out games")
    for path in args.nets:
        try:
            net, _ = load_net(path)
        except (NetFileError, OSError) as error:
            print(f"error: {path}: {error}", file=sys.stderr)
            return 2
        figures = validate(net, subset)
        print(f"{path}: {format_metrics(figures)}", flush=True)
    return 0
