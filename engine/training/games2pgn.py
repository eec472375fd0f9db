"""Export games of an ``engine datagen`` folder as PGN (for calibration sets, inspection, books).

Example::

    engine games2pgn data/gpu3k --games 100 --out engine/data/sf3k_games_100.pgn
"""

from __future__ import annotations

import argparse
import sys

import chess
import chess.pgn
import numpy as np

from engine.training.datagen import decode_move
from engine.training.dataset import shard_files

RESULTS = {1: "1-0", 0: "1/2-1/2", -1: "0-1"}


def export_games(folder: str, games: int, out: str, first_shard: int = 0) -> int:
    """Write up to ``games`` games (from shard ``first_shard`` on) to ``out``; returns the count."""
    written = 0
    with open(out, "w", encoding="utf-8") as handle:
        for path in shard_files(folder)[first_shard:]:
            with np.load(path) as data:
                row = 0
                for start_fen, result, plies in zip(data["start_fen"], data["result"], data["plies"]):
                    game = chess.pgn.Game()
                    game.setup(chess.Board(str(start_fen)))
                    game.headers["Event"] = f"engine datagen {folder}"
                    game.headers["White"] = game.headers["Black"] = "Stockfish 15.1"
                    game.headers["Result"] = RESULTS[int(result)]
                    node = game
                    for code in data["move"][row:row + plies]:
                        node = node.add_variation(chess.Move.from_uci(decode_move(int(code))))
                    row += plies
                    print(game, file=handle, end="\n\n")
                    written += 1
                    if written >= games:
                        return written
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="engine games2pgn", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="engine datagen folder")
    parser.add_argument("--games", type=int, default=100)
    parser.add_argument("--first-shard", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        count = export_games(args.folder, args.games, args.out, args.first_shard)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {count} games to {args.out}")
    return 0
