"""engine gate: pass and fail paths with Stockfish and scripted engines as candidate/baseline."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import chess.pgn
import pytest

from engine.arena import gate, specs

STOCKFISH = specs.find_stockfish()
needs_stockfish = pytest.mark.skipif(
    STOCKFISH is None, reason="stockfish not installed (apt-get install stockfish; "
                              "Debian puts it in /usr/games)")
FAKE_UCI = Path(__file__).resolve().parent / "fake_engines" / "fake_uci.py"
RANDOM_MOVER = shlex.join([sys.executable, str(FAKE_UCI), "random", "5"])
COMMON = ["--runner", "builtin", "--quiet", "--move-timeout", "5", "--maxmoves", "60"]


def test_suite_loads_wac() -> None:
    positions = gate.load_suite(gate.DEFAULT_SUITE)
    assert len(positions) == 300
    first = positions[0]
    assert first.ident == "WAC.001" and first.best == frozenset({"g3g6"})
    assert first.solved_by("g3g6") and not first.solved_by("e5f7") and not first.solved_by(None)


@needs_stockfish
def test_gate_passes_strong_candidate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = gate.main(["--candidate-cmd", str(STOCKFISH), "--candidate-name", "sf",
                      "--baseline-cmd", RANDOM_MOVER, "--baseline-name", "random",
                      "--option", "Hash=16", "--games", "4", "--nodes", "50",
                      "--suite-limit", "5", "--suite-nodes", "200", "--out", str(tmp_path),
                      *COMMON])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "gate PASSED" in out
    report = (tmp_path / "report.md").read_text()
    assert "# Gate report: sf — PASS" in report
    assert "| vs random, equal nodes (50) | 4 |" in report
    assert "## Tactical suite" in report
    assert (tmp_path / "gate.png").stat().st_size > 1000
    text = (tmp_path / "games.pgn").read_text()
    assert text.count("[Event ") == 4
    assert chess.pgn.read_game(open(tmp_path / "games.pgn")) is not None


@needs_stockfish
def test_gate_fails_weak_candidate_with_catastrophes(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code = gate.main(["--candidate-cmd", RANDOM_MOVER, "--candidate-name", "random",
                      "--baseline-cmd", str(STOCKFISH), "--baseline-name", "sf",
                      "--baseline-option", "Hash=16", "--games", "2", "--nodes", "50",
                      "--suite-limit", "6", "--suite-nodes", "2000", "--out", str(tmp_path),
                      *COMMON])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "FAIL  vs sf, equal nodes (50): score" in out
    assert "FAIL  tactical suite: catastrophic failures" in out
    report = (tmp_path / "report.md").read_text()
    assert "FAIL" in report and "**yes**" in report  # a catastrophic row is listed


@needs_stockfish
def test_gate_equal_time_and_fault_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    crasher = shlex.join([sys.executable, str(FAKE_UCI), "crash", "3"])
    code = gate.main(["--candidate-cmd", crasher, "--candidate-name", "crasher",
                      "--baseline-cmd", str(STOCKFISH), "--movetime", "20", "--games", "2",
                      "--suite", "none", "--out", str(tmp_path), *COMMON])
    out = capsys.readouterr().out
    assert code == 1
    assert "equal time (movetime=20ms)" in out
    assert "FAIL  candidate faults (time/illegal/crash/disconnect): 2" in out


@needs_stockfish
def test_gate_stockfish_ladder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = gate.main(["--candidate-cmd", RANDOM_MOVER, "--candidate-name", "random",
                      "--opponent", "stockfish", "--stockfish-elo", "1350,2850",
                      "--games", "2", "--nodes", "20", "--suite", "none", "--out", str(tmp_path),
                      "--min-rating", "3000", *COMMON])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "FAIL  estimated rating (point)" in out
    report = (tmp_path / "report.md").read_text()
    assert "## Rating estimate (Stockfish ladder)" in report
    assert "| 1350 | 2 |" in report and "| 2850 | 2 |" in report


def test_gate_usage_errors(tmp_path: Path) -> None:
    assert gate.main(["--candidate", "x.pt"]) == 2  # no baseline/opponent
    assert gate.main(["--bogus"]) == 2
    # our engine command is configurable; a missing one is a setup error, not a hang
    assert gate.main(["--candidate", "a.pt", "--baseline", "b.pt", "--engine-cmd",
                      "/nonexistent/engine", "--games", "2", "--nodes", "1", "--suite", "none",
                      "--out", str(tmp_path), *COMMON]) == 2


def test_our_engine_command() -> None:
    spec = gate.our_engine_spec("nets/int8.pt", "engine", "int8", None, ["Threads=1"])
    assert spec.command == ("engine", "--net", "nets/int8.pt", "--precision", "int8")
    assert spec.name == "int8-int8"
    assert spec.option_dict() == {"Threads": "1"}
