"""``engine datagen``: training games played and labelled by Stockfish.

Every game starts from a random line of an opening book, then Stockfish plays both sides with a
MultiPV search per move; early moves are sampled among the near-best MultiPV moves so that games
diverge. With a mistake rate, later moves are now and then a random legal move instead, so that
the data also holds the lopsided positions a search visits after bad moves (the position is still
labelled with Stockfish's moves). The same search that chooses a move labels the position: the
MultiPV moves with their scores (the policy target is derived from them at training time, see
:mod:`engine.training.dataset`) and Stockfish's WDL estimate (the value target, blended with the
game result at training time).

Games are stored, not positions: a shard keeps each game's start FEN, result and per-ply labels,
so that the training loader can replay the moves and rebuild the full 8-position history the
network sees at play time, from about 25 bytes per position on disk.

Shard format (``shard-NNNNN.npz``, version :data:`SHARD_FORMAT_VERSION`; readers accept
:data:`SHARD_FORMAT_VERSIONS`):

=================  ==============  ======================================================
array              shape, dtype    content
=================  ==============  ======================================================
``start_fen``      (G,) str        position the game record starts from
``result``         (G,) int8       game result for white: 1, 0, -1
``plies``          (G,) int32      labelled plies of each game (positions follow in order)
``move``           (N,) uint16     move played: from | to << 6 | promotion << 12 (UCI squares,
                                   promotion 0 none, 1 knight .. 4 queen)
``policy_index``   (N, K) uint16   policy index of MultiPV move k, :data:`NO_MOVE` if absent
``policy_cp``      (N, K) int16    its score for the side to move (centipawns; mates
                                   mapped to +-(``labeler.MATE_CP`` - moves to mate))
``wdl``            (N, 3) uint16   Stockfish's win/draw/loss permille for the side to move
``key``            (N,) uint64     Zobrist key of the position
``keep``           (N,) bool       False for positions already seen in earlier games
``policy_visits``  (N, K) uint16   version 2 only (self-play, :mod:`engine.selfplay.replay`):
                                   root visits of move k, the policy target; such shards
                                   have no ``policy_cp``, and ``wdl`` is the search's root
                                   WDL; ``keep`` is False for moves that had fast searches
=================  ==============  ======================================================

``manifest.json`` lists the finished shards and the generation settings; a rerun with the same
output folder resumes after the last finished shard (game seeds depend only on the game number,
so an interrupted run and a straight one produce the same games).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import multiprocessing.util
import os
import pathlib
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from cython_ext.encoding import legal_policy
from cython_ext.position import Board
from engine import game_outcome
from engine.nn.positions import OPENINGS_PATH, opening_fens
from engine.training.labeler import LabelLine, StockfishLabeler

SHARD_FORMAT_VERSION = 1
SELFPLAY_FORMAT_VERSION = 2
SHARD_FORMAT_VERSIONS = (SHARD_FORMAT_VERSION, SELFPLAY_FORMAT_VERSION)
MANIFEST_NAME = "manifest.json"
DEFAULT_STOCKFISH = "/usr/games/stockfish"
NO_MOVE = 0xFFFF
PROMOTION_CODES = {"": 0, "n": 1, "b": 2, "r": 3, "q": 4}
PROMOTION_LETTERS = {code: letter for letter, code in PROMOTION_CODES.items()}
DEFAULT_NODES = 5000
DEFAULT_MULTIPV = 4
DEFAULT_RANDOM_PLIES = 16
DEFAULT_RANDOM_MARGIN_CP = 60
DEFAULT_SAMPLING_TEMPERATURE_CP = 30.0
DEFAULT_MISTAKE_RATE = 0.0
DEFAULT_SHARD_GAMES = 100
RESIGN_CP = 1000
RESIGN_PLIES = 4
DRAW_CP = 15
DRAW_PLIES = 12
DRAW_MIN_PLY = 80
MAX_PLIES = 400


@dataclass(frozen=True)
class GenerationSettings:
    """Everything that decides which games are produced (stored in the manifest)."""

    nodes: int = DEFAULT_NODES
    multipv: int = DEFAULT_MULTIPV
    random_plies: int = DEFAULT_RANDOM_PLIES
    random_margin_cp: int = DEFAULT_RANDOM_MARGIN_CP
    sampling_temperature_cp: float = DEFAULT_SAMPLING_TEMPERATURE_CP
    mistake_rate: float = DEFAULT_MISTAKE_RATE
    shard_games: int = DEFAULT_SHARD_GAMES
    seed: int = 0
    book: str = str(OPENINGS_PATH)


@dataclass
class GameRecord:
    """One labelled game (see the module docs for the fields)."""

    start_fen: str
    result: int = 0
    moves: list[int] = field(default_factory=list)
    policy_index: list[list[int]] = field(default_factory=list)
    policy_cp: list[list[int]] = field(default_factory=list)
    wdl: list[tuple[int, int, int]] = field(default_factory=list)
    keys: list[int] = field(default_factory=list)


def encode_move(uci: str) -> int:
    """16-bit code of a UCI move (see the module docs).

    >>> decode_move(encode_move("e7e8q"))
    'e7e8q'
    """
    frm = (ord(uci[0]) - 97) + 8 * (ord(uci[1]) - 49)
    to = (ord(uci[2]) - 97) + 8 * (ord(uci[3]) - 49)
    return frm | to << 6 | PROMOTION_CODES[uci[4:]] << 12


def decode_move(code: int) -> str:
    """UCI text of a 16-bit move code."""
    frm, to, promotion = code & 63, (code >> 6) & 63, code >> 12
    return (f"{chr(97 + frm % 8)}{frm // 8 + 1}{chr(97 + to % 8)}{to // 8 + 1}"
            + PROMOTION_LETTERS[promotion])


def find_stockfish(path: str | None) -> str:
    """Path of the Stockfish binary to use.

    :raises FileNotFoundError: with a hint on how to install it.
    """
    candidates = [path] if path else [shutil.which("stockfish"), DEFAULT_STOCKFISH]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    wanted = path or f"'stockfish' on PATH or {DEFAULT_STOCKFISH}"
    raise FileNotFoundError(f"Stockfish not found ({wanted}); install it with "
                            "`apt-get install stockfish` or pass --stockfish PATH")


# ---------------------------------------------------------------------------
# Worker side: one Stockfish per process
# ---------------------------------------------------------------------------

_worker_labeler: StockfishLabeler | None = None
_worker_settings: GenerationSettings | None = None
_worker_book: list[str] = []


def _start_worker(stockfish: str, settings: GenerationSettings, book: list[str]) -> None:
    global _worker_labeler, _worker_settings, _worker_book
    _worker_labeler = StockfishLabeler(stockfish, multipv=settings.multipv, nodes=settings.nodes)
    # Stockfish would outlive a worker that the pool shuts down: quit it first.
    multiprocessing.util.Finalize(_worker_labeler, _worker_labeler.close, exitpriority=10)
    _worker_settings = settings
    _worker_book = book


def play_game(game_number: int) -> GameRecord:
    """Play and label game ``game_number`` with this worker's Stockfish (deterministic)."""
    import chess

    settings, labeler = _worker_settings, _worker_labeler
    assert settings is not None and labeler is not None
    rng = random.Random(settings.seed * 1_000_003 + game_number)
    start_fen = rng.choice(_worker_book)
    board = chess.Board(start_fen)  # the game's end by rule, as a GUI rules it
    ours = Board(start_fen)
    record = GameRecord(start_fen=start_fen)
    played: list[str] = []
    labeler.new_game(start_fen)
    resign_streak = draw_streak = 0
    while True:
        outcome = game_outcome(board)
        if outcome is not None:
            record.result = 0 if outcome.winner is None else (1 if outcome.winner else -1)
            break
        lines = labeler.search(played)
        if not lines:
            raise RuntimeError(f"Stockfish returned no move in {board.fen()}")
        legal_moves, legal_indices = legal_policy(ours)
        index_of = dict(zip(legal_moves, legal_indices.tolist()))
        best_cp = lines[0].cp
        wdl = lines[0].wdl if lines[0].wdl is not None else _wdl_from_cp(best_cp)
        indices = [index_of[line.move] for line in lines]  # both write castling as e1g1
        scores = [line.cp for line in lines]
        pad = settings.multipv - len(lines)
        record.policy_index.append(indices + [NO_MOVE] * pad)
        record.policy_cp.append(scores + [0] * pad)
        record.wdl.append(wdl)
        record.keys.append(ours.zobrist)

        chosen = lines[0].move
        if len(record.moves) < settings.random_plies:
            chosen = _sample_move(lines, settings, rng)
        # No draw at a zero rate: folders made before the setting existed resume with the same games.
        elif settings.mistake_rate > 0 and rng.random() < settings.mistake_rate:
            chosen = rng.choice(legal_moves)
        record.moves.append(encode_move(chosen))
        played.append(chosen)
        board.push_uci(chosen)
        ours.push_uci(chosen)

        resign_streak = resign_streak + 1 if abs(best_cp) >= RESIGN_CP else 0
        draw_streak = draw_streak + 1 if abs(best_cp) <= DRAW_CP else 0
        white_cp = best_cp if board.turn == chess.BLACK else -best_cp  # the mover's score
        if resign_streak >= RESIGN_PLIES:
            record.result = 1 if white_cp > 0 else -1
            break
        if draw_streak >= DRAW_PLIES and len(record.moves) >= DRAW_MIN_PLY:
            break
        if len(record.moves) >= MAX_PLIES:
            break
    return record


def _wdl_from_cp(cp: int) -> tuple[int, int, int]:
    """A WDL guess from a score when Stockfish sent none (mates, mostly)."""
    win = 1.0 / (1.0 + math.exp(-cp / 150.0))
    return (round(1000 * win), 0, 1000 - round(1000 * win))


def _sample_move(lines: list[LabelLine], settings: GenerationSettings, rng: random.Random) -> str:
    """A MultiPV move near the best, drawn with softmax weights over the score deficit."""
    best = lines[0].cp
    candidates = [(line.move, line.cp) for line in lines if line.cp >= best - settings.random_margin_cp]
    weights = [math.exp((cp - best) / settings.sampling_temperature_cp) for _, cp in candidates]
    return rng.choices([uci for uci, _ in candidates], weights=weights)[0]


# ---------------------------------------------------------------------------
# Shards and manifest
# ---------------------------------------------------------------------------

def shard_arrays(records: list[GameRecord], multipv: int, seen: set[int]) -> dict[str, np.ndarray]:
    """Arrays of one shard; keys already in ``seen`` get ``keep=False`` (``seen`` is updated)."""
    keys = [key for record in records for key in record.keys]
    keep = np.zeros(len(keys), dtype=bool)
    for i, key in enumerate(keys):
        if key not in seen:
            seen.add(key)
            keep[i] = True
    return {
        "format_version": np.array(SHARD_FORMAT_VERSION, dtype=np.int32),
        "start_fen": np.array([record.start_fen for record in records]),
        "result": np.array([record.result for record in records], dtype=np.int8),
        "plies": np.array([len(record.moves) for record in records], dtype=np.int32),
        "move": np.array([m for record in records for m in record.moves], dtype=np.uint16),
        "policy_index": np.array([row for record in records for row in record.policy_index],
                                 dtype=np.uint16).reshape(-1, multipv),
        "policy_cp": np.array([row for record in records for row in record.policy_cp],
                              dtype=np.int16).reshape(-1, multipv),
        "wdl": np.array([w for record in records for w in record.wdl], dtype=np.uint16).reshape(-1, 3),
        "key": np.array(keys, dtype=np.uint64),
        "keep": keep,
    }


def read_manifest(folder: pathlib.Path) -> dict[str, Any] | None:
    path = folder / MANIFEST_NAME
    if not path.exists():
        return None
    return json.loads(path.read_text())


def write_manifest(folder: pathlib.Path, manifest: dict[str, Any]) -> None:
    temporary = folder / (MANIFEST_NAME + ".tmp")
    temporary.write_text(json.dumps(manifest, indent=1))
    temporary.replace(folder / MANIFEST_NAME)


def generate(out: pathlib.Path, settings: GenerationSettings, games: int, workers: int,
             stockfish: str, progress: bool = True, time_limit_s: float | None = None) -> dict[str, Any]:
    """Generate until ``games`` games exist in ``out`` (resuming); returns the manifest.

    With ``time_limit_s``, no new shard is started once that many seconds have passed.
    """
    out.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(out)
    if manifest is None:
        manifest = {"format_version": SHARD_FORMAT_VERSION, "settings": asdict(settings),
                    "stockfish": stockfish, "shards": []}
    # A setting added later is absent from older manifests: they were made with its default.
    elif {**asdict(GenerationSettings()), **manifest["settings"]} != asdict(settings):
        raise ValueError(f"{out} holds data generated with other settings "
                         f"({manifest['settings']}); use another folder")
    seen: set[int] = set()
    for shard in manifest["shards"]:
        with np.load(out / shard["file"]) as data:
            seen.update(data["key"][data["keep"]].tolist())
    done_games = sum(shard["games"] for shard in manifest["shards"])
    book = opening_fens(settings.book)
    if not book:
        raise ValueError(f"no usable positions in the book {settings.book}")

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=games, initial=min(done_games, games), unit="game", file=sys.stderr,
                   desc="datagen", dynamic_ncols=True)
    started = time.monotonic()
    new_positions = 0
    with concurrent.futures.ProcessPoolExecutor(
            max_workers=workers, initializer=_start_worker,
            initargs=(stockfish, settings, book)) as pool:
        while done_games < games:
            if time_limit_s is not None and time.monotonic() - started > time_limit_s:
                break
            count = min(settings.shard_games, games - done_games)
            records = list(pool.map(play_game, range(done_games, done_games + count)))
            arrays = shard_arrays(records, settings.multipv, seen)
            name = f"shard-{len(manifest['shards']):05d}.npz"
            np.savez_compressed(out / name, **arrays)
            kept = int(arrays["keep"].sum())
            manifest["shards"].append({"file": name, "games": count,
                                       "positions": int(arrays["move"].size), "kept": kept,
                                       "first_game": done_games})
            write_manifest(out, manifest)
            done_games += count
            new_positions += int(arrays["move"].size)
            if bar is not None:
                rate = new_positions / max(time.monotonic() - started, 1e-9)
                bar.set_postfix_str(f"{sum(s['positions'] for s in manifest['shards'])} positions,"
                                    f" {rate:.0f} pos/s")
                bar.update(count)
    if bar is not None:
        bar.close()
    manifest["elapsed_s_last_run"] = round(time.monotonic() - started, 1)
    manifest["positions_per_s_last_run"] = round(new_positions / max(manifest["elapsed_s_last_run"], 1e-9), 1)
    write_manifest(out, manifest)
    return manifest


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="engine datagen", description=__doc__.split("\n\n")[0],
        epilog="Example: engine datagen --out data/sf --games 2000 --workers 2")
    parser.add_argument("--out", required=True, type=pathlib.Path, help="output folder (resumed if it exists)")
    parser.add_argument("--games", type=int, required=True, help="total games wanted in the folder")
    parser.add_argument("--workers", type=int, default=1, help="Stockfish processes (one core each)")
    parser.add_argument("--nodes", type=int, default=DEFAULT_NODES, help="Stockfish nodes per move")
    parser.add_argument("--multipv", type=int, default=DEFAULT_MULTIPV, help="moves labelled per position")
    parser.add_argument("--random-plies", type=int, default=DEFAULT_RANDOM_PLIES,
                        help="plies after the book line where moves are sampled among the MultiPV")
    parser.add_argument("--random-margin", type=int, default=DEFAULT_RANDOM_MARGIN_CP,
                        help="only moves within this many centipawns of the best are sampled")
    parser.add_argument("--sampling-temperature", type=float, default=DEFAULT_SAMPLING_TEMPERATURE_CP,
                        help="softmax temperature (centipawns) of that sampling")
    parser.add_argument("--mistake-rate", type=float, default=DEFAULT_MISTAKE_RATE,
                        help="after the sampled plies, chance that a move is a random legal one instead of "
                             "Stockfish's (the position keeps Stockfish's labels)")
    parser.add_argument("--shard-games", type=int, default=DEFAULT_SHARD_GAMES, help="games per shard file")
    parser.add_argument("--book", default=str(OPENINGS_PATH), help="EPD/FEN opening book")
    parser.add_argument("--time-limit", type=float, help="seconds; start no new shard after this")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stockfish", help=f"Stockfish binary (default: PATH, then {DEFAULT_STOCKFISH})")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("games", "workers", "nodes", "multipv", "shard_games"):
        if getattr(args, name) < 1:
            print(f"error: --{name.replace('_', '-')} must be at least 1", file=sys.stderr)
            return 2
    if args.sampling_temperature <= 0:
        print("error: --sampling-temperature must be positive", file=sys.stderr)
        return 2
    if not 0 <= args.mistake_rate <= 1:
        print("error: --mistake-rate must be between 0 and 1", file=sys.stderr)
        return 2
    try:
        stockfish = find_stockfish(args.stockfish)
        settings = GenerationSettings(
            nodes=args.nodes, multipv=args.multipv, random_plies=args.random_plies,
            random_margin_cp=args.random_margin, sampling_temperature_cp=args.sampling_temperature,
            mistake_rate=args.mistake_rate, shard_games=args.shard_games, seed=args.seed, book=args.book)
        manifest = generate(args.out, settings, args.games, args.workers, stockfish,
                            progress=not args.no_progress, time_limit_s=args.time_limit)
    except (FileNotFoundError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    positions = sum(shard["positions"] for shard in manifest["shards"])
    kept = sum(shard["kept"] for shard in manifest["shards"])
    games = sum(shard["games"] for shard in manifest["shards"])
    print(f"{games} games, {positions} positions ({kept} unique) in {args.out}; "
          f"last run {manifest['positions_per_s_last_run']} positions/s")
    return 0
