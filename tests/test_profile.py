"""`engine profile` (time split of the bench search) and the plain Python MCTS of `engine.bench.mctsbench`."""

from __future__ import annotations

import random
import re

import chess
import numpy as np
import pytest

from cython_ext.encoding import encode, legal_policy
from cython_ext.mcts import SearchTree
from cython_ext.position import Board
from engine import cli
from engine.bench import bench, mctsbench, profile
from engine.nn.evaluator import load_evaluator
from engine.nn.model import NetConfig, random_net
from engine.nn.netfile import build_metadata, save_net

NODES = 60


@pytest.fixture(scope="module")
def tiny_net(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("nets") / "tiny.pt"
    config = NetConfig(filters=16, blocks=1)
    save_net(path, random_net(config, seed=1), build_metadata(config, "fp32"))
    return str(path)


def nodes_searched(output: str) -> int:
    return int(re.search(r"^Nodes searched: (\d+)$", output, re.MULTILINE).group(1))


def test_profile_shares_add_up_and_nodes_match_bench(tiny_net: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", "--net", tiny_net, "--nodes", str(NODES), "--batch", "16"]) == 0
    bench_nodes = nodes_searched(capsys.readouterr().out)
    assert cli.main(["profile", "--net", tiny_net, "--nodes", str(NODES), "--batch", "16"]) == 0
    out = capsys.readouterr().out
    assert nodes_searched(out) == bench_nodes
    shares = [float(share) for share in re.findall(r"^\w.*\s+\d+\.\d+\s+(-?\d+\.\d)%$", out, re.MULTILINE)]
    assert len(shares) == len(profile.COMPONENTS) + 1  # the rows and the total
    assert all(share >= 0 for share in shares)
    assert sum(shares[:-1]) == pytest.approx(100.0, abs=0.5)

    evaluator = load_evaluator(tiny_net, device="cpu", threads=1)
    result = profile.profile_bench(evaluator, NODES, 16)
    assert result.nodes == bench_nodes
    assert set(result.seconds) == {key for key, _ in profile.COMPONENTS}
    assert min(result.seconds.values()) >= 0 and result.seconds["network"] > 0 and result.seconds["state"] > 0
    assert sum(result.seconds.values()) == pytest.approx(result.wall)
    assert sum(result.shares.values()) == pytest.approx(100.0)


def test_tree_profiling_is_off_by_default() -> None:
    tree = SearchTree(max_batch=4)
    tree.set_position(Board())
    n = tree.gather(4)
    tree.apply(np.zeros((n, 1858), np.float32), np.full((n, 3), 1 / 3, np.float32))
    assert tree.profile == {"state": 0.0, "encoding": 0.0, "tree": 0.0}
    tree.profiling = True
    for _ in range(3):
        n = tree.gather(4)
        tree.apply(np.zeros((n, 1858), np.float32), np.full((n, 3), 1 / 3, np.float32))
    assert all(seconds > 0 for seconds in tree.profile.values())
    tree.reset_profile()
    assert tree.profile == {"state": 0.0, "encoding": 0.0, "tree": 0.0}


def test_python_encoder_matches_ours() -> None:
    rng = random.Random(7)
    out = np.empty((112, 8, 8), np.float32)
    for fen in (chess.STARTING_FEN, *bench.BENCH_POSITIONS[:6]):
        reference, board = chess.Board(fen), Board(fen)
        for _ in range(rng.randrange(4, 30)):
            moves = list(reference.legal_moves)
            if not moves:
                break
            move = rng.choice(moves)
            reference.push(move)
            board.push_uci(move.uci())
        if not any(reference.legal_moves):
            continue
        fen_before = reference.fen()
        mctsbench.encode_planes(reference, out)
        assert reference.fen() == fen_before
        np.testing.assert_array_equal(out, encode(board))
        names, indices = legal_policy(board)
        moves = list(reference.legal_moves)
        assert dict(zip(names, indices.tolist())) == dict(
            zip([m.uci() for m in moves], mctsbench.policy_indices(reference, moves)))


def test_python_mcts_returns_a_legal_move(tiny_net: str) -> None:
    evaluator = load_evaluator(tiny_net, device="cpu", threads=1)
    mcts = mctsbench.PythonMCTS(evaluator, 8)
    board = chess.Board(bench.BENCH_POSITIONS[2])
    root = mcts.search(board, 50)
    assert board.fen() == bench.BENCH_POSITIONS[2]
    assert root.visits >= 50
    assert sum(child.visits for child in root.children if child) == root.visits - 1
    assert mcts.best_move(root) in board.legal_moves
    mate = chess.Board("6k1/5ppp/8/8/8/8/5PPP/3R2K1 w - - 0 1")
    assert mcts.best_move(mcts.search(mate, 200)) == chess.Move.from_uci("d1d8")


def test_mctsbench_prints_both_searches(tiny_net: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert mctsbench.main(["--net", tiny_net, "--nodes", "8", "--batch", "4"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^this engine\s+\d+", out, re.MULTILINE)
    assert re.search(r"^plain Python MCTS\s+\d+", out, re.MULTILINE)
    assert re.search(r"^ratio\s+\d+\.\dx\s+\d+\.\dx$", out, re.MULTILINE)
