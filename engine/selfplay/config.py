"""The self-play run's configuration: one section per component, as KataGo splits it.

Every field is a command-line flag of ``engine selfplay`` (``--actor-games-at-once`` ...,
see :func:`add_arguments`); the whole configuration is stored as ``config.json`` in the run
directory, and ``--resume`` reads it back. :func:`validate` refuses a bad configuration with
one line before anything starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
from dataclasses import dataclass, field, fields
from typing import Any

PRECISIONS = ("fp32", "amp", "int8-static")
"""Precisions the inference server runs (int8-static is calibrated on the replay buffer)."""
DEVICES = ("cpu", "cuda")


class ConfigError(ValueError):
    """A configuration that cannot run; the message is one line for the user."""


@dataclass
class ActorConfig:
    """How the actors play (one actor is one process playing many games at once)."""

    actors: int = 1
    games_at_once: int = 32
    playouts: int = 100
    fast_playouts: int = 0
    """KataGo's playout cap randomisation: searches of this size (0: off) on the moves that
    are not full searches; they are played but not trained on."""
    full_search_prob: float = 0.25
    """Share of moves searched with ``playouts`` (with noise, recorded) when fast_playouts > 0."""
    minibatch: int = 16
    """Leaves one game may send per network request (lc0's collision budget may stop sooner)."""
    dirichlet_alpha: float = 0.3
    dirichlet_epsilon: float = 0.25
    temperature: float = 1.0
    temperature_plies: int = 16
    resign_threshold: float = -0.90
    """Resign when the best move's Q (win - loss) stays below this; -1 turns resignation off."""
    resign_moves: int = 3
    """... for this many consecutive moves of the resigning side."""
    resign_playthrough: float = 0.1
    """Share of games that never resign, so that the false-positive rate is measured."""
    max_plies: int = 400
    policy_moves: int = 32
    """Most visited root moves stored per position (the rest of the visits are dropped)."""
    tree_cache: int = 20000
    book: str = ""
    """Opening book (EPD/FEN lines) the games start from; empty: the shipped openings."""
    seed: int = 0


@dataclass
class InferenceConfig:
    """The batched inference server (one process per device, owning the net)."""

    precision: str = "fp32"
    device: str = "cpu"
    max_batch: int = 512
    max_wait_ms: float = 2.0
    threads: int = 0
    """torch threads of the server (0: all cores)."""
    calibration_positions: int = 512


@dataclass
class BufferConfig:
    """The replay buffer: datagen-format shards on disk, a sliding window of recent positions."""

    window: int = 200_000
    result_weight: float = 0.5
    """Weight of the game result in the value target; the rest is the search's root WDL."""


@dataclass
class TrainerConfig:
    """Training of the next net from the window (the supervised trainer's code)."""

    steps: int = 1000
    batch: int = 256
    lr: float = 5e-4
    device: str = "cpu"
    threads: int = 0


@dataclass
class GateConfig:
    """A new net plays the current best; it is promoted only if it passes."""

    games: int = 40
    nodes: int = 100
    min_score: float = 0.55
    sprt: str = ""
    """``elo0=0 elo1=10 alpha=0.05 beta=0.05`` to let an SPRT decide (ends the gate early)."""
    eval_games: int = 0
    """Games of each new net against the run's fixed reference (the start net) for the Elo
    curve; 0: the curve chains the gates' Elo estimates instead."""
    concurrency: int = 1


@dataclass
class RunConfig:
    """The whole run."""

    init: str = ""
    """fp32 net the run starts from; empty: a random net of ``arch``."""
    arch: str = "64x6-se4"
    generations: int = 1
    games_per_generation: int = 200
    actor: ActorConfig = field(default_factory=ActorConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    buffer: BufferConfig = field(default_factory=BufferConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    gate: GateConfig = field(default_factory=GateConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunConfig:
        sections = {f.name: f.type for f in fields(cls)}
        config = cls()
        for key, value in values.items():
            if key not in sections:
                raise ConfigError(f"unknown configuration key {key!r}")
            current = getattr(config, key)
            if dataclasses.is_dataclass(current):
                known = {f.name for f in fields(current)}
                for name, item in value.items():
                    if name not in known:
                        raise ConfigError(f"unknown configuration key {key}.{name}")
                    setattr(current, name, item)
            else:
                setattr(config, key, value)
        return config

    def identity(self) -> dict[str, Any]:
        """What makes two configurations the same run (the length of the run may change)."""
        values = self.to_dict()
        values.pop("generations")
        return values


SECTIONS = ("actor", "inference", "buffer", "trainer", "gate")
TOP_LEVEL = ("init", "arch", "generations", "games_per_generation")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per field: ``--init``, ``--generations``, ``--actor-playouts``, ``--gate-games`` ..."""
    defaults = RunConfig()
    for name in TOP_LEVEL:
        value = getattr(defaults, name)
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=None,
                            help=f"(default {value!r})")
    for section in SECTIONS:
        group = parser.add_argument_group(f"{section} section")
        for item in fields(getattr(defaults, section)):
            value = getattr(getattr(defaults, section), item.name)
            group.add_argument(f"--{section}-{item.name.replace('_', '-')}", type=type(value), default=None,
                               dest=f"{section}__{item.name}", help=f"(default {value!r})")


def from_arguments(args: argparse.Namespace, base: RunConfig | None = None) -> tuple[RunConfig, list[str]]:
    """``base`` (or the defaults) with the flags given on the command line; also their names."""
    config = base if base is not None else RunConfig()
    given = []
    for name in TOP_LEVEL:
        value = getattr(args, name)
        if value is not None:
            setattr(config, name, value)
            given.append(name)
    for section in SECTIONS:
        for item in fields(getattr(config, section)):
            value = getattr(args, f"{section}__{item.name}")
            if value is not None:
                setattr(getattr(config, section), item.name, value)
                given.append(f"{section}.{item.name}")
    return config, given


def validate(config: RunConfig, cuda_available: bool) -> None:
    """Raise :class:`ConfigError` (one line) for a configuration that cannot run."""
    actor, inference, gate = config.actor, config.inference, config.gate
    if config.init and not pathlib.Path(config.init).is_file():
        raise ConfigError(f"--init {config.init}: no such net file")
    if inference.precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {inference.precision!r}; choose from {', '.join(PRECISIONS)}")
    for name, device in (("inference", inference.device), ("trainer", config.trainer.device)):
        if device.split(":")[0] not in DEVICES:
            raise ConfigError(f"--{name}-device {device!r}: choose cpu or cuda")
        if device.startswith("cuda") and not cuda_available:
            raise ConfigError(f"--{name}-device {device}: CUDA is not available on this machine")
    if inference.precision == "int8-static" and inference.device != "cpu":
        raise ConfigError("int8-static runs on CPU only (torch's int8 kernels); use fp32 or amp on cuda")
    positive = {"generations": config.generations, "games_per_generation": config.games_per_generation,
                "actor.actors": actor.actors, "actor.games_at_once": actor.games_at_once,
                "actor.playouts": actor.playouts, "actor.minibatch": actor.minibatch,
                "actor.max_plies": actor.max_plies, "actor.policy_moves": actor.policy_moves,
                "inference.max_batch": inference.max_batch, "buffer.window": config.buffer.window,
                "trainer.steps": config.trainer.steps, "trainer.batch": config.trainer.batch,
                "gate.games": gate.games, "gate.nodes": gate.nodes, "gate.concurrency": gate.concurrency}
    for name, value in positive.items():
        if value < 1:
            raise ConfigError(f"{name} must be at least 1 (got {value})")
    unit = {"actor.full_search_prob": actor.full_search_prob, "actor.dirichlet_epsilon": actor.dirichlet_epsilon,
            "actor.resign_playthrough": actor.resign_playthrough, "buffer.result_weight": config.buffer.result_weight,
            "gate.min_score": gate.min_score}
    for name, value in unit.items():
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{name} must be in [0, 1] (got {value})")
    if actor.fast_playouts < 0 or actor.fast_playouts >= actor.playouts and actor.fast_playouts:
        raise ConfigError("actor.fast_playouts must be 0 (off) or below actor.playouts")
    if not -1.0 <= actor.resign_threshold <= 0.0:
        raise ConfigError("actor.resign_threshold must be in [-1, 0] (-1: never resign)")
    if actor.dirichlet_alpha <= 0 or actor.temperature <= 0 or inference.max_wait_ms < 0:
        raise ConfigError("actor.dirichlet_alpha and actor.temperature must be > 0, inference.max_wait_ms >= 0")
    if actor.book and not pathlib.Path(actor.book).is_file():
        raise ConfigError(f"--actor-book {actor.book}: no such file")
    if gate.sprt:
        allowed = {"elo0", "elo1", "alpha", "beta"}
        for token in gate.sprt.split():
            key, _, value = token.partition("=")
            try:
                float(value)
            except ValueError:
                raise ConfigError(f"--gate-sprt: bad token {token!r}; expected elo0=0 elo1=10 alpha=0.05 beta=0.05") from None
            if key not in allowed:
                raise ConfigError(f"--gate-sprt: unknown key {key!r}; expected {', '.join(sorted(allowed))}")


def write(config: RunConfig, path: pathlib.Path) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(config.to_dict(), indent=1) + "\n")
    temporary.replace(path)


def read(path: pathlib.Path) -> RunConfig:
    try:
        values = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(f"{path}: unreadable configuration ({error})") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: not a self-play configuration")
    return RunConfig.from_dict(values)
