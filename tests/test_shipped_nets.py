"""The nets in nets/: load in every precision, pick legal moves, see the obvious move."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from cython_ext.encoding import encode, legal_policy
from cython_ext.position import Board
from engine.nn.evaluator import PRECISIONS, load_evaluator
from engine.nn.loader import read_net_file

NETS = pathlib.Path(__file__).resolve().parent.parent / "nets"
DEFAULT_NET = NETS / "default.pt"
INT8_NET = NETS / "default-int8.pt"
MAX_NET_BYTES = 50_000_000

# (FEN, moves that are obviously right: one of them must be in the policy's top 3)
TEXTBOOK = [
    ("6k1/5ppp/8/8/8/8/5PPP/R5K1 w - - 0 1", {"a1a8"}),  # back-rank mate in 1
    ("r1bqkb1r/pppp1ppp/2n2n2/4p2Q/2B1P3/8/PPPP1PPP/RNB1K1NR w KQkq - 4 4", {"h5f7"}),  # scholar's mate
    ("r1bqkbnr/1ppp1ppp/p1B5/4p3/4P3/5N2/PPPP1PPP/RNBQK2R b KQkq - 0 4", {"d7c6", "b7c6"}),  # recapture
    ("rnb1kbnr/pppp1ppp/8/4p3/4P2q/5N2/PPPP1PPP/RNBQKB1R w KQkq - 2 3", {"f3h4"}),  # take the queen
    ("rnbqkbnr/ppp1pppp/8/3P4/8/8/PPPP1PPP/RNBQKBNR b KQkq - 0 2", {"d8d5", "g8f6"}),  # recapture the pawn
]

pytestmark = pytest.mark.skipif(not DEFAULT_NET.exists(), reason="nets/default.pt is not shipped yet")


def test_shipped_nets_are_small_and_describe_themselves() -> None:
    for path, precision in ((DEFAULT_NET, "fp32"), (INT8_NET, "int8-static")):
        assert path.stat().st_size < MAX_NET_BYTES
        net_file = read_net_file(path)
        assert net_file.precision == precision
        assert net_file.metadata["provenance"], f"{path.name} does not say how it was made"


@pytest.mark.parametrize("precision", PRECISIONS)
def test_default_net_picks_legal_moves_in_every_precision(precision: str) -> None:
    path = INT8_NET if precision == "int8-static" else DEFAULT_NET
    evaluator = load_evaluator(path, precision, "cpu", threads=1)
    for fen, _ in TEXTBOOK:
        board = Board(fen)
        policy, wdl = evaluator.evaluate(encode(board)[None])
        moves, indices = legal_policy(board)
        best = moves[int(np.argmax(policy[0, indices]))]
        assert best in board.legal_moves
        assert abs(float(wdl.sum()) - 1.0) < 1e-3


@pytest.mark.parametrize("path", [DEFAULT_NET, INT8_NET], ids=["fp32", "int8-static"])
def test_policy_sees_the_obvious_move(path: pathlib.Path) -> None:
    evaluator = load_evaluator(path, "auto", "cpu", threads=1)
    for fen, obvious in TEXTBOOK:
        board = Board(fen)
        policy, _ = evaluator.evaluate(encode(board)[None])
        moves, indices = legal_policy(board)
        top3 = {moves[i] for i in np.argsort(-policy[0, indices])[:3]}
        assert top3 & obvious, f"{fen}: top 3 {sorted(top3)}, expected one of {sorted(obvious)}"
