"""Engine specs and time controls: what to run, with which options, for how long.

Each ``--engine`` (given twice) is followed by ``key=value`` tokens, in the style
of cutechess-cli's ``-engine``; quote a token that contains spaces::

    engine match --engine "cmd=engine --net fp32.pt" name=fp32 option.Precision=fp32 \\
                 --engine "cmd=engine --net int8.pt" name=int8 option.Precision=int8 \\
                 --each nodes=800 option.Threads=1 --games 100

Keys:

``cmd=COMMAND``
    The command line starting the engine (split like a shell does).
``args=ARGS``
    Extra arguments appended to ``cmd``.
``name=NAME``
    Name in the PGN and the report (default: the program's file name).
``dir=DIR``
    Working directory of the engine.
``option.NAME=VALUE``
    A UCI option sent with ``setoption`` (e.g. ``option.Hash=16``,
    ``"option.Skill Level=3"``, ``option.WeightsFile=a.pt``).
``tc=[MOVES/]BASE[+INC]``
    Time control in seconds, e.g. ``10+0.1`` or ``40/60+0.6``.
``nodes=N`` / ``movetime=MS`` / ``depth=N``
    Fixed search limits (``movetime`` in milliseconds).
``stockfish``
    Shorthand for Stockfish (``/usr/games/stockfish`` or ``stockfish`` on PATH)
    with ``option.Threads=1 option.Hash=16``; combine with ``elo=N`` (sets
    ``UCI_LimitStrength`` and ``UCI_Elo``, 1350..2850) or ``skill=N`` (``Skill
    Level``, 0..20).  ``elo=``/``skill=`` work with any engine having these options.
``lc0``
    Shorthand for lc0 (``lc0`` on PATH, else ``../shared/tools/bin/lc0`` beside the
    project); name it with its net: ``lc0 net=maia-1900.pb.gz threads=1``.
``net=FILE`` / ``threads=N`` / ``backend=NAME``
    The UCI options ``WeightsFile``, ``Threads`` and ``Backend`` (lc0's and ours
    share the first two), e.g. ``--each net=maia-1900.pb.gz threads=1`` for both.
    ``go nodes`` counts the same on both: root visits, reused ones included.

``--each`` takes the same tokens and applies them to both engines (the engine's
own tokens win).  ``--tc``, ``--nodes``, ``--movetime`` and ``--depth`` are
shortcuts for ``--each tc=..`` etc.
"""

from __future__ import annotations

import re
import shlex
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

STOCKFISH_CANDIDATES = ("stockfish", "/usr/games/stockfish")
STOCKFISH_DEFAULT_OPTIONS = {"Threads": "1", "Hash": "16"}
STOCKFISH_ELO_MIN, STOCKFISH_ELO_MAX = 1350, 2850
SKILL_MIN, SKILL_MAX = 0, 20
LC0_CANDIDATES = ("lc0", str(Path(__file__).resolve().parents[3] / "shared" / "tools" / "bin" / "lc0"))
"""lc0 on PATH, else the build in the shared tools folder beside the project (../shared/tools/README.md)."""
OPTION_KEYS = {"net": "WeightsFile", "threads": "Threads", "backend": "Backend"}
SHORTHANDS = {
    "stockfish": (STOCKFISH_CANDIDATES, "stockfish not found on PATH or in /usr/games (apt-get install stockfish)",
                  STOCKFISH_DEFAULT_OPTIONS),
    "lc0": (LC0_CANDIDATES, "lc0 not found on PATH or in ../shared/tools/bin (it needs: apt-get install libdnnl2 "
                            "libopenblas0-pthread ocl-icd-libopencl1)", {}),
}
"""Engine spec words: where to find the program, the error when it is missing, default options."""


class MatchError(Exception):
    """A match cannot be set up or run (bad spec, engine that never starts...)."""


@dataclass(frozen=True)
class TimeControl:
    """A clock: ``base`` seconds plus ``increment`` per move, optionally per ``moves``.

    :ivar base: seconds on the clock at the start (and per period).
    :ivar increment: seconds added after each move.
    :ivar moves: moves per period (repeating time control), ``None`` for sudden death.
    """

    base: float
    increment: float = 0.0
    moves: int | None = None

    @classmethod
    def parse(cls, text: str) -> TimeControl:
        """Parse ``[MOVES/]BASE[+INC]`` (seconds, ``BASE`` may be ``M:SS``)."""
        match = re.fullmatch(r"(?:(\d+)/)?([\d.:]+)(?:\+([\d.]+))?", text.strip())
        if not match:
            raise MatchError(f"bad time control {text!r}: expected [MOVES/]BASE[+INC], e.g. 10+0.1")
        moves, base, inc = match.groups()
        minutes, _, seconds = base.rpartition(":")
        try:
            base_s = float(seconds) + 60.0 * float(minutes or 0)
            tc = cls(base=base_s, increment=float(inc or 0), moves=int(moves) if moves else None)
        except ValueError as exc:
            raise MatchError(f"bad time control {text!r}") from exc
        if tc.base <= 0 and tc.increment <= 0:
            raise MatchError(f"time control {text!r} gives no time")
        return tc

    def __str__(self) -> str:
        text = f"{self.base:g}"
        if self.increment:
            text += f"+{self.increment:g}"
        return f"{self.moves}/{text}" if self.moves else text


@dataclass(frozen=True)
class SearchLimit:
    """How long an engine thinks per move: a clock or fixed nodes/movetime/depth.

    Several fixed limits may be combined (the engine stops at the first reached).
    """

    tc: TimeControl | None = None
    nodes: int | None = None
    movetime_ms: int | None = None
    depth: int | None = None

    def is_set(self) -> bool:
        """Whether any limit is given."""
        return any(v is not None for v in (self.tc, self.nodes, self.movetime_ms, self.depth))

    def merged(self, override: SearchLimit) -> SearchLimit:
        """This limit with every field that ``override`` sets replaced."""
        return SearchLimit(
            tc=override.tc if override.tc is not None else self.tc,
            nodes=override.nodes if override.nodes is not None else self.nodes,
            movetime_ms=override.movetime_ms if override.movetime_ms is not None else self.movetime_ms,
            depth=override.depth if override.depth is not None else self.depth)

    def describe(self) -> str:
        """Compact text, e.g. ``tc=10+0.1`` or ``nodes=800``."""
        parts = []
        if self.tc is not None:
            parts.append(f"tc={self.tc}")
        if self.nodes is not None:
            parts.append(f"nodes={self.nodes}")
        if self.movetime_ms is not None:
            parts.append(f"movetime={self.movetime_ms}ms")
        if self.depth is not None:
            parts.append(f"depth={self.depth}")
        return " ".join(parts) or "none"

    def pgn_time_control(self) -> str:
        """Value of the PGN TimeControl tag: ``10+0.1``, ``40/60+0.6`` or ``-``."""
        return "-" if self.tc is None else str(self.tc)


@dataclass(frozen=True)
class EngineSpec:
    """A UCI engine to play: command, options, search limit.

    :ivar name: display name (PGN White/Black).
    :ivar command: argv of the engine process.
    :ivar options: UCI options, name to value (as text).
    :ivar limit: search limit.
    :ivar workdir: working directory, or ``None`` for the current one.
    """

    name: str
    command: tuple[str, ...]
    options: tuple[tuple[str, str], ...] = ()
    limit: SearchLimit = field(default_factory=SearchLimit)
    workdir: str | None = None

    def option_dict(self) -> dict[str, str]:
        """The UCI options as a dict."""
        return dict(self.options)


def _find_program(candidates: Sequence[str]) -> str | None:
    for candidate in candidates:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def find_stockfish() -> str | None:
    """Path of a Stockfish binary (PATH, then the Debian location), or ``None``."""
    return _find_program(STOCKFISH_CANDIDATES)


def find_lc0() -> str | None:
    """Path of an lc0 binary (PATH, then ``../shared/tools/bin``), or ``None``."""
    return _find_program(LC0_CANDIDATES)


def _int_value(key: str, value: str, low: int | None = None, high: int | None = None) -> int:
    try:
        number = int(value)
    except ValueError as exc:
        raise MatchError(f"{key}= needs an integer, got {value!r}") from exc
    if (low is not None and number < low) or (high is not None and number > high):
        raise MatchError(f"{key}={number} is outside {low}..{high}")
    return number


def parse_limit_token(key: str, value: str) -> SearchLimit | None:
    """A :class:`SearchLimit` for a ``tc``/``nodes``/``movetime``/``depth`` token, else ``None``."""
    if key == "tc":
        return SearchLimit(tc=TimeControl.parse(value))
    if key == "nodes":
        return SearchLimit(nodes=_int_value(key, value, 1))
    if key == "movetime":
        return SearchLimit(movetime_ms=_int_value(key, value, 1))
    if key == "depth":
        return SearchLimit(depth=_int_value(key, value, 1))
    return None


def parse_engine_spec(tokens: Sequence[str], each: Sequence[str] = ()) -> EngineSpec:
    """Build an :class:`EngineSpec` from ``key=value`` tokens (see the module docs).

    :param tokens: the engine's own tokens.
    :param each: tokens for every engine, overridden by ``tokens``.
    :raises MatchError: on an unknown key, a bad value or a missing command.
    """
    command: list[str] = []
    extra_args: list[str] = []
    name: str | None = None
    workdir: str | None = None
    options: dict[str, str] = {}
    limit = SearchLimit()
    for token in [*each, *tokens]:
        if token in SHORTHANDS:
            candidates, missing, defaults = SHORTHANDS[token]
            path = _find_program(candidates)
            if path is None:
                raise MatchError(missing)
            command = [path]
            options = {**defaults, **options}
            continue
        key, sep, value = token.partition("=")
        if not sep:
            raise MatchError(f"engine spec token {token!r} is not key=value")
        if key == "cmd":
            command = shlex.split(value)
        elif key == "args":
            extra_args = shlex.split(value)
        elif key == "name":
            name = value
        elif key == "dir":
            workdir = value
        elif key.startswith("option."):
            options[key[len("option."):]] = value
        elif key in OPTION_KEYS:
            options[OPTION_KEYS[key]] = value
        elif key == "elo":
            elo = _int_value(key, value, STOCKFISH_ELO_MIN, STOCKFISH_ELO_MAX)
            options.update({"UCI_LimitStrength": "true", "UCI_Elo": str(elo)})
        elif key == "skill":
            options["Skill Level"] = str(_int_value(key, value, SKILL_MIN, SKILL_MAX))
        else:
            parsed = parse_limit_token(key, value)
            if parsed is None:
                raise MatchError(f"unknown engine spec key {key!r} in {token!r}")
            limit = limit.merged(parsed)
    if not command:
        raise MatchError(f"engine spec {' '.join(tokens)!r} has no cmd= (or stockfish)")
    command += extra_args
    if name is None:
        name = Path(command[0]).name
        name = "stockfish" if name.startswith("stockfish") else name
        if name == "lc0" and "WeightsFile" in options:
            name += "-" + Path(options["WeightsFile"]).name.split(".")[0]
        if "UCI_Elo" in options and options.get("UCI_LimitStrength") == "true":
            name += options["UCI_Elo"]
        elif "Skill Level" in options:
            name += f"-skill{options['Skill Level']}"
    return EngineSpec(name=name, command=tuple(command), options=tuple(options.items()),
                      limit=limit, workdir=workdir)
