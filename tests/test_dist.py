"""The standalone binary (engine.spec, PyInstaller) built from a clean copy of the checkout, driven as a GUI does.

Slow (a build of a few minutes): run with ``python -m pytest -m slow``; needs ``pip install -e ".[dist]"``.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import chess
import chess.engine
import pytest

from engine.nn.model import NetConfig, random_net
from engine.nn.netfile import build_metadata, save_net
from uci.options import OPTIONS

pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD_TIMEOUT_S = 1800


def write_net(path: pathlib.Path, config: NetConfig, seed: int) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_net(path, random_net(config, seed=seed), build_metadata(config, "fp32"))
    return path


def clean_copy(target: pathlib.Path) -> None:
    """The checkout's source files (tracked and new, not ignored) without build outputs or nets."""
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=ROOT, capture_output=True, check=True).stdout.decode()
    for name in filter(None, listing.split("\0")):
        source = ROOT / name
        if source.is_file() and not (name.startswith("nets/") and name.endswith(".pt")):
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> pathlib.Path:
    """A clean copy with a 16x2 nets/default.pt, built with the documented command; returns the copy."""
    if not os.environ.get("CI"):
        pytest.importorskip("PyInstaller", reason='pip install -e ".[dist]"')
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout")
    target = tmp_path_factory.mktemp("checkout")
    clean_copy(target)
    write_net(target / "nets" / "default.pt", NetConfig(filters=16, blocks=2), seed=2)
    subprocess.run([sys.executable, "-m", "engine", "build-dist"], cwd=target, check=True,
                   timeout=BUILD_TIMEOUT_S)
    return target


@pytest.fixture(scope="module")
def binary(checkout) -> str:
    path = checkout / "dist" / "engine" / "engine"
    assert path.is_file() and os.access(path, os.X_OK)
    return str(path)


@pytest.fixture(scope="module")
def tiny_net(tmp_path_factory) -> str:
    """A 16x1 net outside the bundle."""
    return str(write_net(tmp_path_factory.mktemp("nets") / "tiny.pt", NetConfig(filters=16, blocks=1), seed=1))


def test_uci_through_python_chess(binary, tiny_net):
    engine = chess.engine.SimpleEngine.popen_uci([binary, "--net", tiny_net, "--threads", "1"], timeout=120)
    try:
        assert engine.id["name"].startswith("AZChess")
        assert {option.name for option in OPTIONS} <= set(engine.options)
        for fen in (chess.STARTING_FEN, "r3k2r/p1ppqpb1/bn2pnp1/3PN3/1p2P3/2N2Q1p/PPPBBPPP/R3K2R w KQkq - 0 1"):
            board = chess.Board(fen)
            result = engine.play(board, chess.engine.Limit(nodes=200))
            assert result.move in board.legal_moves
    finally:
        engine.quit()


def test_finds_the_bundled_default_net(binary):
    session = subprocess.run([binary], input="uci\nisready\nquit\n", capture_output=True, text=True, timeout=300)
    assert session.returncode == 0, session.stderr
    loaded = [line for line in session.stdout.splitlines() if line.startswith("info string loaded")]
    bundled = os.path.join("_internal", "nets", "default.pt")
    assert len(loaded) == 1 and "16x2 net" in loaded[0] and loaded[0].endswith(bundled), session.stdout
    assert "random" not in session.stdout and "readyok" in session.stdout


def node_total(output: str) -> int:
    lines = [line for line in output.splitlines() if line.startswith("Nodes searched:")]
    assert len(lines) == 1, output
    return int(lines[0].split(":")[1])


def test_bench_node_total_matches_the_console_script(binary, tiny_net):
    frozen = subprocess.run([binary, "bench", "--net", tiny_net], capture_output=True, text=True, timeout=600)
    script = subprocess.run([sys.executable, "-m", "engine.cli", "bench", "--net", tiny_net], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert frozen.returncode == 0 and script.returncode == 0, frozen.stderr + script.stderr
    assert node_total(frozen.stdout) == node_total(script.stdout) > 0


def test_developer_commands_point_to_the_python_install(binary):
    result = subprocess.run([binary, "match"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "not in this standalone binary" in result.stderr
