"""The replay buffer: self-play games on disk in the datagen shard format, and its sliding window.

Actors write their finished games as shards (format version 2 of :mod:`engine.training.datagen`:
the policy target is the root visit distribution, ``wdl`` the search's root WDL) straight into
the buffer folder, each written to a temporary name and renamed, so a killed actor loses at most
its unfinished games. Shard names carry the actor and a sequence number
(``games-a03-000012.npz``); only the run's manager writes ``manifest.json``, adding the shards
it finds (:meth:`ReplayBuffer.refresh`), so ``engine train --data BUFFER`` reads a self-play
buffer as it reads Stockfish data.

The window (:meth:`ReplayBuffer.window`) is the most recent shards holding at most ``window``
positions: what the trainer trains on and what int8-static calibration samples.
"""

from __future__ import annotations

import os
import pathlib
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.selfplay.actor import FinishedGame
from engine.training.datagen import NO_MOVE, SELFPLAY_FORMAT_VERSION, read_manifest, write_manifest

SHARD_PATTERN = re.compile(r"^games-a(\d+)-(\d+)\.npz$")


def shard_name(actor: int, sequence: int) -> str:
    """>>> shard_name(3, 12)
    'games-a03-000012.npz'
    """
    return f"games-a{actor:02d}-{sequence:06d}.npz"


def shard_arrays(games: Sequence[FinishedGame], policy_moves: int) -> dict[str, np.ndarray]:
    """Arrays of one self-play shard (see :mod:`engine.training.datagen` for the format)."""
    def padded(rows: list[list[int]], fill: int) -> list[list[int]]:
        return [row + [fill] * (policy_moves - len(row)) for row in rows]

    return {
        "format_version": np.array(SELFPLAY_FORMAT_VERSION, dtype=np.int32),
        "start_fen": np.array([game.start_fen for game in games]),
        "result": np.array([game.result for game in games], dtype=np.int8),
        "plies": np.array([len(game.moves) for game in games], dtype=np.int32),
        "generation": np.array([game.generation for game in games], dtype=np.int32),
        "termination": np.array([game.termination for game in games]),
        "move": np.array([m for game in games for m in game.moves], dtype=np.uint16),
        "policy_index": np.array([row for game in games for row in padded(game.policy_index, NO_MOVE)],
                                 dtype=np.uint16).reshape(-1, policy_moves),
        "policy_visits": np.array([row for game in games for row in padded(game.policy_visits, 0)],
                                  dtype=np.uint16).reshape(-1, policy_moves),
        "wdl": np.array([w for game in games for w in game.wdl], dtype=np.uint16).reshape(-1, 3),
        "key": np.array([k for game in games for k in game.keys], dtype=np.uint64),
        "keep": np.array([k for game in games for k in game.keep], dtype=bool),
    }


class ShardWriter:
    """An actor's writer: each call stores the given games as one new shard, atomically."""

    def __init__(self, folder: pathlib.Path, actor: int, policy_moves: int) -> None:
        self.folder = pathlib.Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.actor = actor
        self.policy_moves = policy_moves
        existing = [int(m.group(2)) for p in self.folder.iterdir()
                    if (m := SHARD_PATTERN.match(p.name)) and int(m.group(1)) == actor]
        self.sequence = max(existing, default=-1) + 1  # a restarted actor never overwrites

    def write(self, games: Sequence[FinishedGame]) -> pathlib.Path:
        path = self.folder / shard_name(self.actor, self.sequence)
        # Written through a handle so numpy appends no ".npz": a shard cut off by a kill keeps
        # the ".tmp" name, which neither SHARD_PATTERN nor a "games-*.npz" glob takes as finished.
        temporary = path.with_name(path.name + ".tmp")
        with open(temporary, "wb") as handle:
            np.savez(handle, **shard_arrays(games, self.policy_moves))
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)
        self.sequence += 1
        return path


class ReplayBuffer:
    """The buffer folder as the manager sees it: the manifest, its counts and the window."""

    def __init__(self, folder: pathlib.Path, window: int) -> None:
        self.folder = pathlib.Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.window_positions = window
        manifest = read_manifest(self.folder)
        if manifest is None:
            manifest = {"format_version": SELFPLAY_FORMAT_VERSION, "source": "engine selfplay", "shards": []}
            write_manifest(self.folder, manifest)
        self.manifest: dict[str, Any] = manifest

    @property
    def shards(self) -> list[dict[str, Any]]:
        return self.manifest["shards"]

    def refresh(self) -> int:
        """Add finished shards not yet in the manifest; returns the games they hold."""
        known = {shard["file"] for shard in self.shards}
        new = sorted(p for p in self.folder.iterdir() if SHARD_PATTERN.match(p.name) and p.name not in known)
        added = 0
        for path in new:
            with np.load(path) as data:
                generations = data["generation"]
                entry = {"file": path.name, "games": int(data["plies"].shape[0]),
                         "positions": int(data["keep"].sum()), "plies": int(data["plies"].sum()),
                         "generation": int(generations.max(initial=0))}
            self.shards.append(entry)
            added += entry["games"]
        if new:
            write_manifest(self.folder, self.manifest)
        return added

    def games(self, generation: int | None = None) -> int:
        return sum(s["games"] for s in self.shards if generation is None or s["generation"] == generation)

    def positions(self) -> int:
        return sum(s["positions"] for s in self.shards)

    def window(self) -> list[tuple[pathlib.Path, int]]:
        """The most recent shards holding at most the window's positions (at least one shard),
        oldest first, each with the global number of its first game."""
        first_games = np.cumsum([0] + [s["games"] for s in self.shards])
        chosen: list[tuple[pathlib.Path, int]] = []
        positions = 0
        for index in range(len(self.shards) - 1, -1, -1):
            shard = self.shards[index]
            if chosen and positions + shard["positions"] > self.window_positions:
                break
            if shard["positions"] == 0:
                continue
            chosen.append((self.folder / shard["file"], int(first_games[index])))
            positions += shard["positions"]
        return chosen[::-1]

    def sample_planes(self, count: int, seed: int = 0) -> np.ndarray:
        """Input planes of up to ``count`` positions drawn from the window (calibration data)."""
        import torch

        from engine.training.dataset import DEFAULT_POLICY_TEMPERATURE_CP, load_shard, unpack_planes

        parts = []
        held = 0
        for path, first_game in reversed(self.window()):  # newest first, in this process
            parts.append(load_shard(path, first_game, DEFAULT_POLICY_TEMPERATURE_CP, 0.0))
            held += len(parts[-1])
            if held >= 4 * count:
                break
        if not parts:
            return np.zeros((0, 112, 8, 8), dtype=np.float32)
        bits = np.concatenate([part.bits for part in parts])
        rule50 = np.concatenate([part.rule50 for part in parts])
        rows = np.sort(np.random.default_rng(seed).permutation(len(bits))[:count])
        return unpack_planes(torch.from_numpy(bits[rows].view(np.int64)), torch.from_numpy(rule50[rows])).numpy()

