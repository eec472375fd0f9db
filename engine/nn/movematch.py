"""Move-match rate of a net's 1-node policy against the moves played in PGN games.

    engine movematch --net maia-1900.pb.gz --pgn games.pgn [--precision fp32]

For every position of every game's main line (before each move), the net's choice is the
legal move with the highest policy logit; it matches when it is the move played. This is how
Maia's authors report their nets (about 50% on held-out Lichess games of the target rating).
Prints the rate overall and by game phase (plies before ``OPENING_PLIES``, up to
``MIDDLEGAME_PLIES``, after).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Iterator

import numpy as np

from cython_ext.encoding import encode_batch, legal_policy
from cython_ext.position import Board
from engine.nn.evaluator import PRECISIONS, load_evaluator
from engine.nn.netfile import NetFileError

EVALUATION_BATCH = 256
OPENING_PLIES = 20
MIDDLEGAME_PLIES = 60
PHASES = ("opening", "middlegame", "endgame")
PHASE_PLIES = {"opening": f"plies 0-{OPENING_PLIES - 1}", "middlegame": f"plies {OPENING_PLIES}-{MIDDLEGAME_PLIES - 1}",
               "endgame": f"plies {MIDDLEGAME_PLIES}+"}


def _phase(ply: int) -> str:
    """The game phase of ``ply`` (see :data:`PHASE_PLIES`)."""
    return PHASES[0] if ply < OPENING_PLIES else PHASES[1] if ply < MIDDLEGAME_PLIES else PHASES[2]


def played_positions(pgn_path: str, max_games: int | None = None) -> Iterator[tuple[Board, str, int]]:
    """``(position before the move, move played in UCI, ply)`` along every game's main line.

    Games that python-chess reports errors in, or that do not replay, are skipped.
    """
    import chess.pgn

    chess.pgn.LOGGER.setLevel(logging.CRITICAL)
    games = 0
    with open(pgn_path, encoding="utf-8", errors="replace") as handle:
        while max_games is None or games < max_games:
            game = chess.pgn.read_game(handle)
            if game is None:
                return
            if game.errors:
                continue
            games += 1
            board = Board(game.board().fen())
            try:
                for ply, move in enumerate(game.mainline_moves()):
                    uci = move.uci()  # castling as the king's move (e1g1), as Board names it in standard chess
                    yield board.copy(), uci, ply
                    board.push_uci(uci)
            except ValueError:
                continue


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="engine movematch", description=__doc__.split("\n")[0])
    parser.add_argument("--net", required=True, help="net file (ours or an lc0 .pb.gz)")
    parser.add_argument("--pgn", required=True, help="PGN games")
    parser.add_argument("--precision", default="auto", choices=("auto", *PRECISIONS))
    parser.add_argument("--games", type=int, default=None, help="at most this many games")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    try:
        evaluator = load_evaluator(args.net, precision=args.precision, device="cpu", threads=args.threads)
    except NetFileError as error:
        print(f"movematch: {error}", file=sys.stderr)
        return 1
    matches = {phase: 0 for phase in PHASES}
    totals = {phase: 0 for phase in PHASES}
    started = time.perf_counter()

    def score(batch: list[tuple[Board, str, int]]) -> None:
        policy, _ = evaluator.evaluate(encode_batch([board for board, _, _ in batch]))
        for row, (board, played, ply) in enumerate(batch):
            moves, indices = legal_policy(board)
            phase = _phase(ply)
            totals[phase] += 1
            matches[phase] += moves[int(np.argmax(policy[row, indices]))] == played

    batch: list[tuple[Board, str, int]] = []
    for item in played_positions(args.pgn, args.games):
        batch.append(item)
        if len(batch) == EVALUATION_BATCH:
            score(batch)
            batch = []
    if batch:
        score(batch)
    positions = sum(totals.values())
    if not positions:
        print(f"movematch: no playable games in {args.pgn}", file=sys.stderr)
        return 1
    figures = {"net": evaluator.describe(), "pgn": args.pgn, "positions": positions,
               "match_rate": sum(matches.values()) / positions,
               "by_phase": {phase: {"positions": totals[phase],
                                    "match_rate": matches[phase] / totals[phase] if totals[phase] else None}
                            for phase in PHASES},
               "seconds": round(time.perf_counter() - started, 1)}
    if args.json:
        print(json.dumps(figures))
        return 0
    print(f"{evaluator.describe()}\n{args.pgn}: {positions} positions, 1-node policy matches the move played "
          f"in {100 * figures['match_rate']:.1f}%")
    for phase in PHASES:
        if totals[phase]:
            print(f"  {phase:<10} ({PHASE_PLIES[phase]}): {100 * matches[phase] / totals[phase]:.1f}% "
                  f"of {totals[phase]}")
    return 0
