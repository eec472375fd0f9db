"""Training pipeline: datagen with a real Stockfish, the replaying loader, and training steps."""

from __future__ import annotations

import csv
import json
import pathlib
import shutil

import chess
import numpy as np
import pytest
import torch

from cython_ext.encoding import encode, legal_policy
from cython_ext.position import Board
from engine.training import datagen, dataset, train
from engine.training import heldout
from engine.training import labeler as labeler_module
from engine.training.labeler import StockfishLabeler
from engine.nn.model import ChessNet, NetConfig
from engine.nn.loader import load_net
from engine.nn.positions import generate_positions

STOCKFISH = shutil.which("stockfish") or (datagen.DEFAULT_STOCKFISH
                                          if pathlib.Path(datagen.DEFAULT_STOCKFISH).exists() else None)
needs_stockfish = pytest.mark.skipif(STOCKFISH is None, reason="Stockfish is not installed")
SMALL_RUN = ["--nodes", "400", "--multipv", "3", "--shard-games", "2", "--workers", "1", "--no-progress"]


@pytest.fixture(scope="module")
def datagen_folder(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    if STOCKFISH is None:
        pytest.skip("Stockfish is not installed")
    folder = tmp_path_factory.mktemp("datagen")
    assert datagen.main(["--out", str(folder), "--games", "2", *SMALL_RUN]) == 0
    assert datagen.main(["--out", str(folder), "--games", "3", *SMALL_RUN]) == 0  # resumes
    return folder


def test_move_codes_round_trip() -> None:
    for uci in ("e2e4", "a7a8q", "h2h1n", "e1g1", "b7c8r", "g2g1b"):
        assert datagen.decode_move(datagen.encode_move(uci)) == uci


@needs_stockfish
def test_datagen_writes_consistent_replayable_shards(datagen_folder: pathlib.Path) -> None:
    manifest = json.loads((datagen_folder / datagen.MANIFEST_NAME).read_text())
    assert [shard["games"] for shard in manifest["shards"]] == [2, 1]
    seen: set[int] = set()
    for shard in manifest["shards"]:
        with np.load(datagen_folder / shard["file"]) as data:
            assert int(data["plies"].sum()) == len(data["move"]) == len(data["key"]) == shard["positions"]
            assert data["policy_index"].shape == data["policy_cp"].shape == (len(data["move"]), 3)
            assert (data["wdl"].sum(axis=1) == 1000).all()
            row = 0
            for fen, plies, result in zip(data["start_fen"], data["plies"], data["result"]):
                board = chess.Board(str(fen))
                ours = Board(str(fen))
                for _ in range(plies):
                    moves, indices = legal_policy(ours)
                    labelled = [i for i in data["policy_index"][row] if i != datagen.NO_MOVE]
                    assert labelled and set(labelled) <= set(indices.tolist())
                    assert ours.zobrist == int(data["key"][row])
                    assert data["keep"][row] == (ours.zobrist not in seen)
                    seen.add(ours.zobrist)
                    uci = datagen.decode_move(int(data["move"][row]))
                    assert chess.Move.from_uci(uci) in board.legal_moves
                    board.push_uci(uci)
                    ours.push_uci(uci)
                    row += 1
                outcome = board.outcome(claim_draw=True)
                if outcome is not None:  # otherwise adjudicated
                    assert result == (0 if outcome.winner is None else (1 if outcome.winner else -1))


@needs_stockfish
def test_labeler_matches_python_chess_analyse() -> None:
    """The lean client's labels equal python-chess's ``analyse`` (same commands, same searches)."""
    import chess.engine

    start = "r1bqkbnr/pppp1ppp/2n5/4p3/4P3/5N2/PPPP1PPP/RNBQKB1R w KQkq - 2 3"
    moves = ["f1b5", "a7a6", "b5a4", "g8f6", "e1g1", "f6e4", "d2d4", "b7b5", "a4b3", "d7d5"]
    labeler = StockfishLabeler(STOCKFISH, multipv=4, nodes=2000)
    reference = chess.engine.SimpleEngine.popen_uci(STOCKFISH)
    try:
        reference.configure({"Threads": 1, "Hash": 16, "UCI_ShowWDL": True})
        for game in range(2):  # the second game checks that ucinewgame resets the same way
            labeler.new_game(start)
            board, game_id = chess.Board(start), object()
            for ply in range(len(moves) + 1):
                ours = labeler.search(moves[:ply])
                infos = reference.analyse(board, chess.engine.Limit(nodes=2000), multipv=4, game=game_id)
                expected = [(info["pv"][0].uci(), info["score"].relative, tuple(info["wdl"].relative))
                            for info in infos]
                assert [(line.move, line.wdl) for line in ours] == [(m, w) for m, _, w in expected]
                for line, (_, score, _) in zip(ours, expected):
                    assert line.cp == (score.score() if not score.is_mate()
                                       else labeler_module.MATE_CP - score.mate() if score.mate() > 0
                                       else -labeler_module.MATE_CP - score.mate())
                if ply < len(moves):
                    board.push_uci(moves[ply])
    finally:
        labeler.close()
        reference.quit()


def test_labeler_reports_a_dead_engine(tmp_path: pathlib.Path) -> None:
    crashing = tmp_path / "crashing-engine"
    crashing.write_text("#!/bin/sh\nread line\necho 'id name crash'\nexit 3\n")
    crashing.chmod(0o755)
    with pytest.raises(RuntimeError, match="Stockfish exited"):
        StockfishLabeler(str(crashing), multipv=2, nodes=100)


def test_labeler_parses_scores_and_mates() -> None:
    parse = labeler_module.parse_info
    assert parse("info depth 3 multipv 2 score cp 25000 wdl 1000 0 0 pv e2e4 e7e5".split()).cp == labeler_module.MAX_CP
    assert parse("info depth 3 score mate 2 pv d1h5".split()).cp == labeler_module.MATE_CP - 2
    assert parse("info depth 3 score mate -1 upperbound pv g1h1".split()).cp == -(labeler_module.MATE_CP - 1)


@needs_stockfish
def test_datagen_mistakes_are_random_legal_moves_labelled_by_stockfish(tmp_path: pathlib.Path) -> None:
    folder = tmp_path / "mistakes"
    args = ["--out", str(folder), "--games", "1", "--random-plies", "0", "--mistake-rate", "1", *SMALL_RUN]
    assert datagen.main(args) == 0
    with np.load(folder / "shard-00000.npz") as data:
        ours = Board(str(data["start_fen"][0]))
        played_stockfish_move = []
        for row, code in enumerate(data["move"]):
            moves, indices = legal_policy(ours)
            uci = datagen.decode_move(int(code))
            assert uci in moves
            played_stockfish_move.append(dict(zip(moves, indices.tolist()))[uci] == data["policy_index"][row][0])
            ours.push_uci(uci)
    # Every move was drawn uniformly from ~30 legal ones: Stockfish's is rarely among them.
    assert len(played_stockfish_move) >= 4 and sum(played_stockfish_move) < len(played_stockfish_move) / 2


@needs_stockfish
def test_datagen_resumes_a_folder_made_before_a_setting_existed(datagen_folder: pathlib.Path,
                                                                tmp_path: pathlib.Path) -> None:
    folder = tmp_path / "old"
    shutil.copytree(datagen_folder, folder)
    manifest = json.loads((folder / datagen.MANIFEST_NAME).read_text())
    del manifest["settings"]["mistake_rate"]
    (folder / datagen.MANIFEST_NAME).write_text(json.dumps(manifest))
    assert datagen.main(["--out", str(folder), "--games", "4", *SMALL_RUN]) == 0
    assert sum(s["games"] for s in json.loads((folder / datagen.MANIFEST_NAME).read_text())["shards"]) == 4
    assert datagen.main(["--out", str(folder), "--games", "5", "--mistake-rate", "0.1", *SMALL_RUN]) == 2


def test_datagen_reports_missing_stockfish(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = datagen.main(["--out", str(tmp_path / "d"), "--games", "1", "--stockfish", str(tmp_path / "nope")])
    assert code == 2
    assert "Stockfish not found" in capsys.readouterr().err


def test_packed_planes_round_trip() -> None:
    boards = generate_positions(200, seed=3)
    planes = np.stack([encode(board) for board in boards])
    bits, rule50 = dataset.pack_planes(planes)
    unpacked = dataset.unpack_planes(torch.from_numpy(bits.view(np.int64)), torch.from_numpy(rule50))
    assert torch.equal(unpacked, torch.from_numpy(planes))


def test_policy_weights_favour_the_chosen_move() -> None:
    index = np.array([[5, 7, 9, datagen.NO_MOVE]], dtype=np.uint16)
    cp = np.array([[10, 40, -50, 0]], dtype=np.int16)
    weights = dataset.policy_weights(index, cp, temperature_cp=30.0)
    assert weights[0, 3] == 0 and abs(weights.sum() - 1) < 1e-6
    assert weights[0, 0] == weights[0, 1] > weights[0, 2]


@needs_stockfish
def test_loader_targets_match_the_games(datagen_folder: pathlib.Path) -> None:
    data = dataset.load_training_set([datagen_folder], workers=1, progress=False)
    assert len(data) > 0 and np.allclose(data.wdl.sum(1), 1) and np.allclose(data.policy_weight.sum(1), 1)
    assert (data.policy_weight[:, 0] >= data.policy_weight.max(1) - 1e-6).all()
    everything = dataset.load_training_set([datagen_folder], workers=1, progress=False, keep_duplicates=True)
    manifest = json.loads((datagen_folder / datagen.MANIFEST_NAME).read_text())
    assert len(everything) == sum(shard["positions"] for shard in manifest["shards"])
    assert len(data) == sum(shard["kept"] for shard in manifest["shards"])
    train_set, validation = data.split(0.34, seed=0)
    assert len(train_set) + len(validation) == len(data)
    assert not set(train_set.game.tolist()) & set(validation.game.tolist())


def test_training_steps_lower_the_loss_on_a_fixed_batch() -> None:
    torch.manual_seed(0)
    boards = generate_positions(64, seed=5)
    planes = torch.from_numpy(np.stack([encode(board) for board in boards]))
    index = torch.tensor([[int(legal_policy(board)[1][0]), -1] for board in boards])
    weight = torch.tensor([[1.0, 0.0]] * len(boards))
    wdl = torch.tensor([[0.2, 0.5, 0.3]] * len(boards))
    net = ChessNet(NetConfig.from_arch("16x2"))
    optimizer = torch.optim.AdamW(net.parameters(), lr=3e-3)
    first = None
    for _ in range(40):
        policy_loss, value_loss, _, _ = train.losses(net, planes, index, weight, wdl)
        loss = policy_loss + value_loss
        first = loss.item() if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.5 * first


@needs_stockfish
def test_train_command_writes_net_metrics_and_curves(datagen_folder: pathlib.Path, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "net.pt"
    run = tmp_path / "run"
    args = ["--data", str(datagen_folder), "--arch", "16x1", "--steps", "6", "--batch", "32",
            "--log-every", "2", "--eval-every", "3", "--out", str(out), "--run-dir", str(run),
            "--validation-fraction", "0.34", "--loader-workers", "1", "--threads", "1", "--no-progress"]
    assert train.main(args) == 0
    net, net_file = load_net(out)
    assert net_file.config.name == "16x1" and net_file.metadata["provenance"]["steps"] == 6
    with open(run / train.METRICS_NAME, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["step"]) for row in rows] == [2, 4, 6]
    assert rows[-1]["val_top1"] and (run / train.CURVES_NAME).stat().st_size > 0
    assert train.main(args) == 0  # finished checkpoint: resumes at the last step and rewrites the net


@needs_stockfish
def test_fine_tuning_starts_from_the_given_net(datagen_folder: pathlib.Path, tmp_path: pathlib.Path) -> None:
    base = tmp_path / "base.pt"
    common = ["--data", str(datagen_folder), "--batch", "32", "--validation-fraction", "0.34",
              "--loader-workers", "1", "--threads", "1", "--no-progress", "--lr", "1e-9"]
    assert train.main([*common, "--arch", "16x1", "--steps", "2", "--out", str(base),
                       "--run-dir", str(tmp_path / "a")]) == 0
    tuned = tmp_path / "tuned.pt"
    assert train.main([*common, "--init", str(base), "--arch", "32x2", "--steps", "1", "--out", str(tuned),
                       "--run-dir", str(tmp_path / "b")]) == 0
    base_net, _ = load_net(base)
    tuned_net, tuned_file = load_net(tuned)
    assert tuned_file.config.name == "16x1"  # the initial net's architecture, not --arch
    assert tuned_file.metadata["provenance"]["initial_net"]["steps"] == 2
    # The fine-tune logs its starting point first: the base net on the same held-out games.
    with open(tmp_path / "b" / train.METRICS_NAME, newline="") as handle:
        first = next(csv.DictReader(handle))
    base_validation = load_net(base)[1].metadata["provenance"]["validation"]
    assert first["step"] == "0" and not first["train_policy_loss"]
    assert float(first["val_policy_loss"]) == pytest.approx(base_validation["val_policy_loss"], abs=1e-4)
    weight = "input_conv.weight"
    assert torch.allclose(base_net.state_dict()[weight], tuned_net.state_dict()[weight], atol=1e-5)


@needs_stockfish
def test_heldout_reproduces_the_training_validation(datagen_folder: pathlib.Path, tmp_path: pathlib.Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    net = tmp_path / "net.pt"
    assert train.main(["--data", str(datagen_folder), "--batch", "32", "--validation-fraction", "0.34",
                       "--loader-workers", "1", "--threads", "1", "--no-progress", "--arch", "16x1",
                       "--steps", "2", "--out", str(net), "--run-dir", str(tmp_path / "run")]) == 0
    logged = load_net(net)[1].metadata["provenance"]["validation"]
    capsys.readouterr()
    split = ["--data", str(datagen_folder), "--validation-fraction", "0.34", "--threads", "1"]
    assert heldout.main([*split, str(net)]) == 0
    figures = dict(item.split() for item in capsys.readouterr().out.splitlines()[-1].split(": ", 1)[1].split(", "))
    assert float(figures["val_policy_loss"]) == pytest.approx(logged["val_policy_loss"], abs=1e-4)
    assert float(figures["val_top1"]) == pytest.approx(logged["val_top1"], abs=1e-4)
    assert heldout.main([*split, "--games", "1000:", str(net)]) == 2  # no such game: a clear error
    assert heldout.main([*split, str(tmp_path / "missing.pt")]) == 2
