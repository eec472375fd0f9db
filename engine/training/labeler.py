"""Stockfish as the labeler of ``engine datagen``: a lean UCI client for MultiPV searches.

python-chess's engine client parses every ``info`` line of a search into moves checked on a
board; at 3000 nodes and MultiPV 4 that took as much CPU as Stockfish itself, so a datagen worker
kept only half a core busy searching. This client keeps each MultiPV line's latest ``info`` tokens
and parses those few when ``bestmove`` arrives.

It sends what python-chess's ``analyse`` sends (``ucinewgame`` before each game, the game as
``position fen START moves ...``, ``go nodes N``), so Stockfish searches the same trees and the
labels are the same (``tests/test_training.py`` compares the two):

>>> labeler = StockfishLabeler(find_stockfish(None), multipv=2, nodes=500)  # doctest: +SKIP
>>> labeler.new_game(chess.STARTING_FEN)  # doctest: +SKIP
>>> [line.move for line in labeler.search([])]  # doctest: +SKIP
['e2e4', 'd2d4']
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

import chess

MATE_CP = 20000
MAX_CP = MATE_CP - 1000  # centipawn scores are clamped below the mate band
OPTIONS = (("Threads", "1"), ("Hash", "16"), ("UCI_ShowWDL", "true"), ("Ponder", "false"),
           ("UCI_AnalyseMode", "true"), ("UCI_Chess960", "false"))


@dataclass(frozen=True)
class LabelLine:
    """One MultiPV line: its first move, its score for the side to move and Stockfish's WDL."""

    move: str
    cp: int
    wdl: tuple[int, int, int] | None


class StockfishLabeler:
    """One Stockfish process searching ``nodes`` nodes per position with ``multipv`` lines.

    :raises RuntimeError: if Stockfish exits or answers outside the protocol.
    """

    def __init__(self, path: str, multipv: int, nodes: int) -> None:
        self.nodes = nodes
        self._position = "position startpos"
        self._process = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self._send("uci")
        self._wait_for("uciok")
        for name, value in (*OPTIONS, ("MultiPV", str(multipv))):
            self._send(f"setoption name {name} value {value}")

    def new_game(self, start_fen: str) -> None:
        """Start a game from ``start_fen``: Stockfish clears its hash and history."""
        root = chess.Board(start_fen).fen(en_passant="fen")  # python-chess's spelling of the root
        self._position = "position startpos" if root == chess.STARTING_FEN else f"position fen {root}"
        self._send("ucinewgame")
        self._send("isready")
        self._wait_for("readyok")

    def search(self, moves: list[str]) -> list[LabelLine]:
        """The MultiPV lines of the position after ``moves`` from the game's start, best first."""
        self._send(f"{self._position} moves {' '.join(moves)}" if moves else self._position)
        self._send(f"go nodes {self.nodes}")
        latest: dict[int, list[str]] = {}
        while True:
            line = self._read_line()
            if line.startswith("bestmove"):
                break
            if line.startswith("info ") and " pv " in line and not line.startswith("info string"):
                tokens = line.split()
                rank = int(tokens[tokens.index("multipv") + 1]) if "multipv" in tokens else 1
                latest[rank] = tokens
        return [parse_info(latest[rank]) for rank in sorted(latest)]

    def close(self) -> None:
        """Ask Stockfish to quit and wait for it (killed if it does not go within 5 s)."""
        if self._process.poll() is None:
            try:
                self._send("quit")
                self._process.wait(timeout=5)
            except (RuntimeError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()

    def _send(self, command: str) -> None:
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(command + "\n")
        except (BrokenPipeError, OSError) as error:
            raise RuntimeError(f"Stockfish exited (code {self._process.poll()})") from error

    def _read_line(self) -> str:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"Stockfish exited (code {self._process.wait()})")
        return line.rstrip("\n")

    def _wait_for(self, answer: str) -> None:
        while self._read_line().strip() != answer:
            pass


def parse_info(tokens: list[str]) -> LabelLine:
    """The :class:`LabelLine` of a tokenized ``info ... score ... pv ...`` line.

    Mates map to ``+-(MATE_CP - moves to mate)``; other scores are clamped to ``+-MAX_CP``.

    >>> parse_info("info depth 9 multipv 1 score mate -3 wdl 0 0 1000 pv e1d1 a2a1q".split())
    LabelLine(move='e1d1', cp=-19997, wdl=(0, 0, 1000))
    >>> parse_info("info depth 9 score cp 35 lowerbound nodes 2000 pv e2e4".split())
    LabelLine(move='e2e4', cp=35, wdl=None)
    """
    score_at = tokens.index("score")
    kind, value = tokens[score_at + 1], int(tokens[score_at + 2])
    if kind == "mate":
        cp = MATE_CP - abs(value) if value > 0 else -(MATE_CP - abs(value))
    else:
        cp = max(-MAX_CP, min(MAX_CP, value))
    wdl = None
    if "wdl" in tokens:
        at = tokens.index("wdl")
        wdl = (int(tokens[at + 1]), int(tokens[at + 2]), int(tokens[at + 3]))
    return LabelLine(move=tokens[tokens.index("pv") + 1], cp=cp, wdl=wdl)
