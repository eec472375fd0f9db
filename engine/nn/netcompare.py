"""``engine netcompare``: policy and value agreement between two nets on the same positions.

Metrics, over the legal moves of each position only (what the search uses):

* policy top-1 agreement: both nets rank the same legal move first; also over the "decisive"
  positions only, where A's best legal move leads its second by at least ``DECISIVE_MARGIN``
  logits (disagreements elsewhere are near-ties that the search barely distinguishes);
* mean KL divergence ``KL(A || B)`` of the legal-move softmaxes;
* WDL mean and max absolute error between the win/draw/loss probabilities.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from cython_ext.encoding import legal_policy
from cython_ext.position import Board
from engine.nn.evaluator import PRECISIONS, Evaluator, load_evaluator
from engine.nn.netfile import NetFileError
from engine.nn.positions import PositionReport, batches, encode_positions, read_positions

DEFAULT_LIMIT = 2000
COMPARE_BATCH = 128
DECISIVE_MARGIN = 0.1
"""Logit lead of A's best move over its second (about 10% in probability) that makes a position decisive."""


@dataclass
class Comparison:
    """Agreement of net B with net A."""

    positions: int
    top1_agreement: float
    decisive_positions: int
    top1_agreement_decisive: float
    kl_mean: float
    wdl_mean_abs: float
    wdl_max_abs: float

    def describe(self) -> str:
        return (f"{self.positions} positions: policy top-1 agreement {100 * self.top1_agreement:.2f}% "
                f"({100 * self.top1_agreement_decisive:.2f}% on {self.decisive_positions} decisive), "
                f"KL mean {self.kl_mean:.5f}, WDL abs error mean {self.wdl_mean_abs:.4f} "
                f"max {self.wdl_max_abs:.4f}")


def evaluate_all(evaluator: Evaluator, planes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Policy logits and WDL probabilities of all ``planes``, in batches."""
    policies, wdls = [], []
    for chunk in batches(planes, COMPARE_BATCH):
        policy, wdl = evaluator.evaluate(chunk)
        policies.append(policy)
        wdls.append(wdl)
    return np.concatenate(policies), np.concatenate(wdls)


def decisive_mask(policy: np.ndarray, legal_indices: Sequence[np.ndarray]) -> np.ndarray:
    """Boolean mask of the positions whose best legal move leads the second by ``DECISIVE_MARGIN`` logits."""
    decisive = []
    for row, indices in enumerate(legal_indices):
        top_two = np.sort(policy[row, indices].astype(np.float64))[-2:]
        decisive.append(len(top_two) < 2 or top_two[1] - top_two[0] >= DECISIVE_MARGIN)
    return np.asarray(decisive, dtype=bool)


def compare_outputs(policy_a: np.ndarray, wdl_a: np.ndarray, policy_b: np.ndarray, wdl_b: np.ndarray,
                    legal_indices: Sequence[np.ndarray]) -> Comparison:
    """Metrics of B against A from raw outputs (policy logits, WDL probabilities)."""
    agreements, divergences = [], []
    for row, indices in enumerate(legal_indices):
        logits_a = policy_a[row, indices].astype(np.float64)
        logits_b = policy_b[row, indices].astype(np.float64)
        agreements.append(np.argmax(logits_a) == np.argmax(logits_b))
        log_a = logits_a - np.logaddexp.reduce(logits_a)
        log_b = logits_b - np.logaddexp.reduce(logits_b)
        divergences.append(float(np.sum(np.exp(log_a) * (log_a - log_b))))
    wdl_error = np.abs(wdl_a.astype(np.float64) - wdl_b.astype(np.float64))
    agreements_decisive = np.asarray(agreements)[decisive_mask(policy_a, legal_indices)]
    return Comparison(positions=len(legal_indices), top1_agreement=float(np.mean(agreements)),
                      decisive_positions=len(agreements_decisive),
                      top1_agreement_decisive=float(agreements_decisive.mean()) if len(agreements_decisive) else 1.0,
                      kl_mean=float(np.mean(divergences)), wdl_mean_abs=float(wdl_error.mean()),
                      wdl_max_abs=float(wdl_error.max()))


def compare_evaluators(reference: Evaluator, other: Evaluator, boards: Sequence[Board]) -> Comparison:
    """Metrics of ``other`` against ``reference`` on ``boards`` (positions with legal moves)."""
    boards = [board for board in boards if board.legal_moves]
    if not boards:
        raise ValueError("no positions with legal moves to compare on")
    planes = encode_positions(boards)
    legal_indices = [legal_policy(board)[1] for board in boards]
    return compare_outputs(*evaluate_all(reference, planes), *evaluate_all(other, planes), legal_indices)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="engine netcompare", description=__doc__.split("\n")[0])
    parser.add_argument("--net", action="append", required=True, metavar="FILE",
                        help="net file; give exactly two (A = reference, B = compared)")
    parser.add_argument("--precision", action="append", choices=("auto", *PRECISIONS),
                        help="run-time precision of each net, in --net order (default auto)")
    parser.add_argument("--positions", required=True, metavar="FILE", help="FEN/EPD or PGN positions")
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help="at most this many positions")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if len(args.net) != 2:
        print("netcompare: give exactly two --net files", file=sys.stderr)
        return 2
    precisions = (args.precision or []) + ["auto"] * (2 - len(args.precision or []))
    report = PositionReport(args.positions)
    boards = read_positions(args.positions, limit=args.limit, report=report)
    print(report.describe(), file=sys.stderr)
    try:
        reference, other = (load_evaluator(path, precision=precision, device="cpu", threads=args.threads)
                            for path, precision in zip(args.net, precisions))
        comparison = compare_evaluators(reference, other, boards)
    except (NetFileError, ValueError) as error:
        print(f"netcompare: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"a": reference.describe(), "b": other.describe(), **asdict(comparison)}))
    else:
        print(f"A: {reference.describe()}\nB: {other.describe()}\n{comparison.describe()}")
    return 0
