"""A scripted UCI engine for tests: ``python fake_uci.py MODE [N]``.

Modes:

``random``     a random legal move (seeded by N, default 0).
``crash``      plays like ``random`` for N moves, then exits with status 3.
``illegal``    plays like ``random`` for N moves, then answers ``bestmove a1a1``.
``hang``       plays like ``random`` for N moves, then never answers ``go``.
``nomove``     answers ``bestmove (none)`` in every position.
``nostart``    never answers ``uci``.
``chatty``     like ``random``, but before ``readyok`` prints an ``info string`` (valid
               UCI) and a stray line (not UCI).
``once``       like ``crash``, but creates the file named by the third argument
               and exits at start-up when that file exists (cannot restart).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
import time

import chess


def main() -> int:
    mode = sys.argv[1] if len(sys.argv) > 1 else "random"
    number = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    rng = random.Random(number)
    board = chess.Board()
    moves_played = 0
    if mode == "once":
        marker = Path(sys.argv[3])
        if marker.exists():
            return 4
        marker.touch()
        mode = "crash"
    for line in sys.stdin:
        tokens = line.split()
        if not tokens:
            continue
        command = tokens[0]
        if command == "uci":
            if mode == "nostart":
                continue
            print("id name fake-" + mode)
            print("option name Hash type spin default 16 min 1 max 1024")
            print("uciok")
        elif command == "isready":
            if mode == "chatty":
                print("info string net loaded")
                print("stray output")
            print("readyok")
        elif command == "position":
            if tokens[1] == "startpos":
                board = chess.Board()
                rest = tokens[2:]
            else:
                board = chess.Board(" ".join(tokens[2:8]))
                rest = tokens[8:]
            for uci in rest[1:] if rest and rest[0] == "moves" else []:
                board.push_uci(uci)
        elif command == "go":
            if mode == "nomove":
                print("bestmove (none)")
            elif moves_played >= number and mode == "crash":
                sys.stdout.flush()
                return 3
            elif moves_played >= number and mode == "illegal":
                print("bestmove a1a1")
            elif moves_played >= number and mode == "hang":
                sys.stdout.flush()
                time.sleep(3600)
            else:
                move = rng.choice(list(board.legal_moves))
                print(f"info depth 1 score cp 0 nodes 1 pv {move.uci()}")
                print(f"bestmove {move.uci()}")
            moves_played += 1
        elif command == "quit":
            return 0
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
