"""Training positions from ``engine datagen`` folders: replayed games, packed planes, targets.

The loader replays every stored game on :class:`cython_ext.position.Board` so each position gets
exactly the input planes the engine builds at play time (8-position history included), then keeps
them bit-packed: the first :data:`PACKED_PLANES` planes are 0/1 and become one uint64 each, the
rule-50 plane is one byte, the last two planes are constant. About 0.9 KB per position, so a
million positions fit in memory (and on a GPU) and are unpacked per batch by :func:`unpack_planes`.

Targets:

* policy -- the MultiPV moves with softmax weights over their score deficit to the best move,
  ``exp((cp - best_cp) / policy_temperature_cp)``;
* value -- Stockfish's WDL for the side to move blended with the game result:
  ``(1 - result_weight) * stockfish + result_weight * one_hot(result)``.

>>> from cython_ext.encoding import encode
>>> planes = encode(Board())
>>> bits, rule50 = pack_planes(planes[None])
>>> bool((unpack_planes(torch.from_numpy(bits.view(np.int64)), torch.from_numpy(rule50)).numpy() == planes).all())
True
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from cython_ext.encoding import NUM_INPUT_PLANES, encode
from cython_ext.position import Board
from engine.training.datagen import MANIFEST_NAME, NO_MOVE, SHARD_FORMAT_VERSIONS, decode_move

PACKED_PLANES = 109
"""Planes 0..108 are 0/1 (pieces, repetitions, castling, side to move)."""
RULE50_PLANE = 109
ONES_PLANE = 111
RULE50_SCALE = 99.0
DEFAULT_POLICY_TEMPERATURE_CP = 30.0
DEFAULT_RESULT_WEIGHT = 0.25
BIT_SHIFTS = torch.arange(64, dtype=torch.int64)


@dataclass
class TrainingSet:
    """Positions with targets, all numpy arrays of the same length ``N``.

    :ivar bits: (N, 109) uint64 packed planes.
    :ivar rule50: (N,) uint8 halfmove clock.
    :ivar policy_index: (N, K) int16 policy indices of the labelled moves, -1 where absent.
    :ivar policy_weight: (N, K) float32 target probabilities (rows sum to 1).
    :ivar wdl: (N, 3) float32 value target for the side to move.
    :ivar game: (N,) int32 global game number (for a split that never cuts a game).
    """

    bits: np.ndarray
    rule50: np.ndarray
    policy_index: np.ndarray
    policy_weight: np.ndarray
    wdl: np.ndarray
    game: np.ndarray

    def __len__(self) -> int:
        return int(self.rule50.shape[0])

    def subset(self, rows: np.ndarray) -> TrainingSet:
        return TrainingSet(self.bits[rows], self.rule50[rows], self.policy_index[rows],
                           self.policy_weight[rows], self.wdl[rows], self.game[rows])

    def split(self, validation_fraction: float, seed: int = 0) -> tuple[TrainingSet, TrainingSet]:
        """(train, validation), split by whole games drawn with ``seed``."""
        games = np.unique(self.game)
        rng = np.random.default_rng(seed)
        held_out = rng.choice(games, size=max(1, round(len(games) * validation_fraction)), replace=False)
        is_validation = np.isin(self.game, held_out)
        return self.subset(np.flatnonzero(~is_validation)), self.subset(np.flatnonzero(is_validation))


def pack_planes(planes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 112, 8, 8) float planes -> ((N, 109) uint64 bits, (N,) uint8 halfmove clock)."""
    n = planes.shape[0]
    binary = planes[:, :PACKED_PLANES].reshape(n, PACKED_PLANES, 64) > 0.5
    bits = np.packbits(binary, axis=2, bitorder="little").view(np.uint64)[:, :, 0]
    rule50 = np.rint(planes[:, RULE50_PLANE, 0, 0] * RULE50_SCALE).astype(np.uint8)
    return np.ascontiguousarray(bits), rule50


def unpack_planes(bits: torch.Tensor, rule50: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`pack_planes` on torch tensors (int64 bits), on their device."""
    n = bits.shape[0]
    shifts = BIT_SHIFTS.to(bits.device)
    planes = torch.zeros((n, NUM_INPUT_PLANES, 64), dtype=torch.float32, device=bits.device)
    planes[:, :PACKED_PLANES] = ((bits.unsqueeze(-1) >> shifts) & 1).to(torch.float32)
    planes[:, RULE50_PLANE] = (rule50.to(torch.float32) / RULE50_SCALE).unsqueeze(-1)
    planes[:, ONES_PLANE] = 1.0
    return planes.view(n, NUM_INPUT_PLANES, 8, 8)


def policy_weights(policy_index: np.ndarray, policy_cp: np.ndarray, temperature_cp: float) -> np.ndarray:
    """Softmax over the labelled moves' score deficit (absent moves get weight 0).

    The first move is the one Stockfish chose; at low depth another MultiPV line can report a
    higher score (bounds from an unfinished iteration), so the chosen move is raised to the best
    score and always gets the largest weight.
    """
    present = policy_index != NO_MOVE
    cp = policy_cp.astype(np.float64)
    best = np.where(present, cp, -np.inf).max(axis=1, keepdims=True)
    cp[:, :1] = best
    weights = np.where(present, np.exp((cp - best) / temperature_cp), 0.0)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def shard_files(folder: str | pathlib.Path) -> list[pathlib.Path]:
    """Shard files listed in a datagen folder's manifest, in order."""
    folder = pathlib.Path(folder)
    manifest_path = folder / MANIFEST_NAME
    if not manifest_path.exists():
        raise FileNotFoundError(f"{folder} is not a datagen folder (no {MANIFEST_NAME})")
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format_version") not in SHARD_FORMAT_VERSIONS:
        raise ValueError(f"{folder}: shard format {manifest.get('format_version')} is not one of "
                         f"{SHARD_FORMAT_VERSIONS}")
    return [folder / shard["file"] for shard in manifest["shards"]]


def load_shard(path: pathlib.Path, first_game: int, policy_temperature_cp: float,
               result_weight: float, keep_duplicates: bool = False) -> TrainingSet:
    """Replay one shard's games and build the planes and targets of its positions (of the first
    occurrence of each, unless ``keep_duplicates``)."""
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    total = int(arrays["plies"].sum())
    bits = np.empty((total, PACKED_PLANES), dtype=np.uint64)
    rule50 = np.empty(total, dtype=np.uint8)
    result_for_mover = np.empty(total, dtype=np.int8)
    game_of_row = np.empty(total, dtype=np.int32)
    game_planes = np.empty((int(arrays["plies"].max(initial=0)), NUM_INPUT_PLANES, 8, 8), dtype=np.float32)
    row = 0
    for game, (start_fen, result, plies) in enumerate(zip(arrays["start_fen"], arrays["result"],
                                                          arrays["plies"])):
        board = Board(str(start_fen))
        for ply, code in enumerate(arrays["move"][row:row + plies]):
            encode(board, game_planes[ply])
            result_for_mover[row + ply] = result if board.turn else -result
            board.push_uci(decode_move(int(code)))
        bits[row:row + plies], rule50[row:row + plies] = pack_planes(game_planes[:plies])
        game_of_row[row:row + plies] = first_game + game
        row += plies
    keep = np.ones_like(arrays["keep"]) if keep_duplicates else arrays["keep"]
    bits, rule50 = bits[keep], rule50[keep]
    policy_index = arrays["policy_index"][keep]
    if "policy_visits" in arrays:  # self-play: the root visit distribution
        visits = arrays["policy_visits"][keep].astype(np.float64)
        weights = (visits / np.maximum(visits.sum(axis=1, keepdims=True), 1.0)).astype(np.float32)
    else:
        weights = policy_weights(policy_index, arrays["policy_cp"][keep], policy_temperature_cp)
    label_wdl = arrays["wdl"][keep].astype(np.float32) / 1000.0  # Stockfish's, or the search's
    label_wdl /= np.maximum(label_wdl.sum(axis=1, keepdims=True), 1e-6)
    outcome = np.zeros_like(label_wdl)
    outcome[np.arange(len(outcome)), 1 - result_for_mover[keep].astype(np.int64)] = 1.0  # W, D, L
    wdl = (1.0 - result_weight) * label_wdl + result_weight * outcome
    index = np.where(policy_index == NO_MOVE, -1, policy_index.astype(np.int32)).astype(np.int16)
    return TrainingSet(bits, rule50, index, weights, wdl.astype(np.float32), game_of_row[keep])


def load_training_set(folders: Sequence[str | pathlib.Path],
                      policy_temperature_cp: float = DEFAULT_POLICY_TEMPERATURE_CP,
                      result_weight: float = DEFAULT_RESULT_WEIGHT, max_shards: int | None = None,
                      workers: int | None = None, progress: bool = True,
                      keep_duplicates: bool = False) -> TrainingSet:
    """Positions of the given datagen folders (shards replayed in parallel processes).

    :param workers: processes replaying shards (default: the cores, at most 8).

    :param keep_duplicates: also positions seen earlier in the data, so that positions keep the
        weight they have in games (the opening plies of games from one start position).
    """
    jobs: list[tuple[pathlib.Path, int]] = []
    game_offset = 0
    for folder in folders:
        for path in shard_files(folder):
            with np.load(path) as data:
                games = int(data["plies"].shape[0])
            jobs.append((path, game_offset))
            game_offset += games
    if max_shards is not None:
        jobs = jobs[:max_shards]
    if not jobs:
        raise ValueError("no shards in " + ", ".join(map(str, folders)))
    return load_shards(jobs, policy_temperature_cp, result_weight, workers, progress, keep_duplicates)


def load_shards(jobs: Sequence[tuple[pathlib.Path, int]],
                policy_temperature_cp: float = DEFAULT_POLICY_TEMPERATURE_CP,
                result_weight: float = DEFAULT_RESULT_WEIGHT, workers: int | None = None,
                progress: bool = True, keep_duplicates: bool = False) -> TrainingSet:
    """Positions of the given shards, each with the global number of its first game
    (:func:`load_training_set` for whole folders; the self-play trainer for its window)."""
    import concurrent.futures

    if not jobs:
        raise ValueError("no shards to load")
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), unit="shard", desc="loading")
    parts: list[TrainingSet] = []
    workers = workers or min(8, os.cpu_count() or 1)
    with concurrent.futures.ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(load_shard, path, first, policy_temperature_cp, result_weight, keep_duplicates)
                   for path, first in jobs]
        for future in futures:
            parts.append(future.result())
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return TrainingSet(*(np.concatenate([getattr(part, name) for part in parts])
                         for name in ("bits", "rule50", "policy_index", "policy_weight", "wdl", "game")))
