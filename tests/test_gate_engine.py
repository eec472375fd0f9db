"""`engine gate` driving our own engine process with tiny nets: the pass and the fail path."""

from __future__ import annotations

import subprocess
import sys

import pytest

from engine.nn.model import NetConfig, random_net
from engine.nn.netfile import build_metadata, save_net


@pytest.fixture(scope="module")
def nets(tmp_path_factory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("gate-nets")
    paths = []
    for seed in (1, 2):
        config = NetConfig(filters=16, blocks=1)
        path = folder / f"tiny{seed}.pt"
        save_net(path, random_net(config, seed=seed), build_metadata(config, "fp32"))
        paths.append(str(path))
    return paths[0], paths[1]


def run_gate(nets, tmp_path, *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "engine.cli", "gate", "--candidate", nets[0], "--baseline", nets[1],
               "--engine-cmd", f"{sys.executable} -m engine.cli", "--games", "2", "--nodes", "20",
               "--suite-limit", "10", "--suite-nodes", "20", "--option", "Threads=1", "--out", str(tmp_path),
               *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_gate_passes_with_lenient_thresholds(nets, tmp_path):
    result = run_gate(nets, tmp_path, "--min-score", "0", "--min-elo", "-2000")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "gate PASSED" in result.stdout
    assert (tmp_path / "report.md").is_file() and (tmp_path / "games.pgn").is_file()


def test_gate_fails_when_the_score_is_too_low(nets, tmp_path):
    result = run_gate(nets, tmp_path, "--min-score", "1.01")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL" in result.stdout
