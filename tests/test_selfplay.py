"""The self-play loop for real: actor and server processes (or Ray actors), buffer, trainer, gate.

A tiny loop (a 16x1 net, a few short games, one generation) runs with and without Ray; the
engines in its gate are real `engine` processes.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from engine.nn.model import NetConfig, random_net
from engine.nn.netfile import build_metadata, save_net
from engine.selfplay import run as selfplay_run
from engine.selfplay.actor import FinishedGame, SelfPlayActor
from engine.selfplay.config import ActorConfig, RunConfig
from engine.selfplay.inference import LocalEvaluatorClient, build_evaluator
from engine.selfplay.local import LocalPool
from engine.selfplay.replay import ReplayBuffer, ShardWriter
from engine.training import train
from engine.training.dataset import load_shard, load_training_set
from engine.nn.positions import opening_fens

TINY = NetConfig.from_arch("16x1")
TINY_LOOP = ["--games-per-generation", "4", "--actor-games-at-once", "4", "--actor-playouts", "8",
             "--actor-max-plies", "16", "--trainer-steps", "4", "--trainer-batch", "32", "--gate-games", "2",
             "--gate-nodes", "4", "--no-progress"]


@pytest.fixture(scope="module")
def tiny_net(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    path = tmp_path_factory.mktemp("nets") / "tiny.pt"
    save_net(path, random_net(TINY, seed=1), build_metadata(TINY, "fp32"))
    return path


def selfplay(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", "selfplay", *args], capture_output=True, text=True,
                          timeout=600)


def check_finished_run(run: pathlib.Path, games: int, generations: int = 1) -> dict:
    state = json.loads((run / "state.json").read_text())
    assert state["completed"] == generations and state["phase"] == "selfplay"
    assert [row["generation"] for row in state["history"]] == list(range(1, generations + 1))
    manifest = json.loads((run / "buffer" / "manifest.json").read_text())
    for generation in range(1, generations + 1):  # games still running at a phase's end count for the next
        assert sum(s["games"] for s in manifest["shards"] if s["generation"] == generation) >= games
    row = state["history"][0]
    assert row["games"] >= games and row["positions"] > 0
    # The gate ran and decided; its games are on disk and the decision is in the record.
    assert row["gate"].count("-") == 2 and sum(map(int, row["gate"].split("-"))) == 2
    assert isinstance(row["promoted"], bool) and row["best"] == (1 if row["promoted"] else 0)
    assert (run / "games" / "gate-001.pgn").read_text().count("[Event ") == 2
    assert (run / "nets" / "gen-001.pt").is_file()
    assert (run / "metrics.csv").read_text().splitlines()[1].startswith("1,")
    assert (run / "selfplay.png").stat().st_size > 1000
    # The buffer is a datagen folder: the supervised loader reads it.
    data = load_training_set([run / "buffer"], progress=False, workers=1)
    manifest = json.loads((run / "buffer" / "manifest.json").read_text())
    assert len(manifest["shards"]) == len(list((run / "buffer").glob("games-*.npz")))
    assert len(data) == sum(shard["positions"] for shard in manifest["shards"])
    np.testing.assert_allclose(data.policy_weight.sum(axis=1), 1.0, rtol=1e-5)
    return row


def test_local_loop(tiny_net: pathlib.Path, tmp_path: pathlib.Path) -> None:
    run = tmp_path / "run"
    result = selfplay("--run", str(run), "--init", str(tiny_net), "--generations", "2", *TINY_LOOP)
    assert result.returncode == 0, result.stderr[-2000:]
    check_finished_run(run, 4, generations=2)
    # `engine train` takes the self-play buffer as it takes Stockfish data.
    out = tmp_path / "from-buffer.pt"
    assert train.main(["--data", str(run / "buffer"), "--init", str(tiny_net), "--steps", "2", "--batch", "16",
                       "--out", str(out), "--run-dir", str(tmp_path / "t"), "--loader-workers", "1",
                       "--no-progress"]) == 0
    assert out.is_file()


def test_ray_loop(tiny_net: pathlib.Path, tmp_path: pathlib.Path) -> None:
    pytest.importorskip("ray")
    run = tmp_path / "run"
    result = selfplay("--run", str(run), "--ray", "--init", str(tiny_net), "--generations", "1", *TINY_LOOP)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "(Ray actor)" in result.stderr
    check_finished_run(run, 4)


def test_resume_after_kill_keeps_finished_games(tiny_net: pathlib.Path, tmp_path: pathlib.Path) -> None:
    run = tmp_path / "run"
    args = ["--run", str(run), "--init", str(tiny_net), "--generations", "1", *TINY_LOOP,
            "--games-per-generation", "12", "--actor-games-at-once", "2", "--actor-max-plies", "30"]
    process = subprocess.Popen([sys.executable, "-m", "engine", "selfplay", *args], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    buffer = run / "buffer"
    while time.monotonic() < deadline and len(list(buffer.glob("games-*.npz")) if buffer.exists() else []) < 3:
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)  # the run and its actor and server processes
    process.wait()
    before = {p.name: p.read_bytes() for p in buffer.glob("games-*.npz")}
    assert len(before) >= 3
    result = selfplay("--resume", str(run))
    assert result.returncode == 0, result.stderr[-2000:]
    after = {p.name: p.read_bytes() for p in buffer.glob("games-*.npz")}
    assert all(after[name] == data for name, data in before.items())  # nothing finished was lost or rewritten
    manifest = json.loads((buffer / "manifest.json").read_text())
    assert sum(s["games"] for s in manifest["shards"]) == 12  # the resumed phase played only what it owed
    assert json.loads((run / "state.json").read_text())["completed"] == 1


@pytest.mark.parametrize("use_ray", [False, True], ids=["local", "ray"])
def test_killed_actor_is_restarted(tiny_net: pathlib.Path, tmp_path: pathlib.Path, use_ray: bool) -> None:
    config = RunConfig()
    config.actor.games_at_once, config.actor.playouts, config.actor.max_plies = 2, 8, 12
    games: list[dict] = []
    if use_ray:
        pytest.importorskip("ray")
        from engine.selfplay.ray_pool import RayPool

        pool = RayPool(config, tmp_path / "buffer", str(tiny_net), [0], "local")
    else:
        pool = LocalPool(config, tmp_path / "buffer", str(tiny_net), [0])

    def on_game(summary: dict) -> None:
        games.append(summary)
        if len(games) == 1:
            pool.kill_actor(0)

    try:
        pool.play(6, 1, on_game)
    finally:
        pool.close()
    assert pool.restarts >= 1
    assert len(games) >= 6
    # Every reported game is on disk (a game written just before the kill may be on disk unreported).
    assert len(list((tmp_path / "buffer").glob("games-a00-*.npz"))) >= len(games)


@pytest.mark.parametrize("args, message", [
    (["--inference-precision", "int4"], "unknown precision 'int4'"),
    (["--init", "missing.pt"], "no such net file"),
    (["--inference-device", "cuda"], "CUDA is not available"),
    (["--trainer-device", "cuda"], "CUDA is not available"),
    (["--actor-playouts", "0"], "actor.playouts must be at least 1"),
    (["--gate-sprt", "elo0=0 elo2=5"], "unknown key 'elo2'"),
], ids=["precision", "net", "cuda-inference", "cuda-trainer", "playouts", "sprt"])
def test_bad_configuration_is_refused_in_one_line(tmp_path: pathlib.Path, args: list[str], message: str) -> None:
    if "CUDA" in message:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    result = selfplay("--run", str(tmp_path / "run"), *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "run").exists()  # refused before anything started


def test_run_directories_are_not_mixed_up(tiny_net: pathlib.Path, tmp_path: pathlib.Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    result = selfplay("--run", str(foreign), "--init", str(tiny_net))
    assert result.returncode == 2 and "not a self-play run directory" in result.stderr
    result = selfplay("--resume", str(foreign))
    assert result.returncode == 2 and "not a self-play run directory" in result.stderr
    run = tmp_path / "run"
    result = selfplay("--run", str(run), "--init", str(tiny_net), "--generations", "0")
    assert result.returncode == 2 and "generations must be at least 1" in result.stderr
    config = RunConfig(init=str(tiny_net))
    selfplay_run.prepare_run(run, config, resume=False, given=[])
    result = selfplay("--run", str(run), "--init", str(tiny_net))
    assert result.returncode == 2 and "already holds a self-play run; use --resume" in result.stderr
    result = selfplay("--resume", str(run), "--actor-playouts", "999")
    assert result.returncode == 2 and "actor.playouts is 100 in this run, not 999" in result.stderr


def play_games(net: pathlib.Path, config: ActorConfig, count: int) -> list[FinishedGame]:
    evaluator = build_evaluator(str(net), "fp32", "cpu", 1)
    client = LocalEvaluatorClient(evaluator, config.games_at_once * config.minibatch)
    actor = SelfPlayActor(config, client, opening_fens())
    games: list[FinishedGame] = []
    actor.play(count, games.append)
    return games


def test_games_carry_visit_targets_and_playout_caps(tiny_net: pathlib.Path, tmp_path: pathlib.Path) -> None:
    config = ActorConfig(games_at_once=2, playouts=24, fast_playouts=6, full_search_prob=0.5, max_plies=30,
                         resign_threshold=-1.0)
    games = play_games(tiny_net, config, 2)
    for game in games:
        full = [sum(v) for v, keep in zip(game.policy_visits, game.keep) if keep]
        fast = [sum(v) for v, keep in zip(game.policy_visits, game.keep) if not keep]
        assert full and fast
        assert min(full) >= config.playouts - 1  # the root's children hold all playouts but the root's own
        assert max(fast) < config.playouts - 1
        assert game.termination in ("checkmate", "stalemate", "insufficient_material", "fifty_moves",
                                    "threefold_repetition", "max plies")
        assert len(game.moves) == len(game.policy_index) == len(game.wdl) == len(game.keys)
        assert all(sum(w) == 1000 for w in game.wdl)
    writer = ShardWriter(tmp_path, 0, config.policy_moves)
    path = writer.write(games)
    buffer = ReplayBuffer(tmp_path, window=10_000)
    assert buffer.refresh() == 2
    data = load_shard(path, 0, 30.0, result_weight=0.5)
    assert len(data) == sum(sum(game.keep) for game in games)  # fast-search moves are not trained on
    first = games[0]
    row = next(i for i, keep in enumerate(first.keep) if keep)
    visits = np.array(first.policy_visits[row], dtype=np.float64)
    np.testing.assert_allclose(data.policy_weight[0][:len(visits)], visits / visits.sum(), rtol=1e-6)
    assert list(data.policy_index[0][:len(visits)]) == first.policy_index[row]


def test_resignation_false_positives_are_counted(tiny_net: pathlib.Path) -> None:
    # Threshold 0 resigns at the first bad-looking moves; every game is a playthrough, so none
    # resigns and each would-be resignation is checked against the real result.
    config = ActorConfig(games_at_once=4, playouts=8, max_plies=40, resign_threshold=0.0, resign_moves=1,
                         resign_playthrough=1.0)
    games = play_games(tiny_net, config, 4)
    assert all(game.termination != "resignation" and game.playthrough for game in games)
    flagged = [game for game in games if game.would_resign]
    assert flagged
    for game in flagged:
        assert game.false_positive == (game.result != -game.would_resign)
    config = ActorConfig(games_at_once=4, playouts=8, max_plies=40, resign_threshold=0.0, resign_moves=1,
                         resign_playthrough=0.0)
    assert any(game.termination == "resignation" for game in play_games(tiny_net, config, 4))
