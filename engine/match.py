"""``engine match``: play two UCI engines against each other and report statistics.

Engine specs
------------
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

``--each`` takes the same tokens and applies them to both engines (the engine's
own tokens win).  ``--tc``, ``--nodes``, ``--movetime`` and ``--depth`` are
shortcuts for ``--each tc=..`` etc.

Runners
-------
``--runner auto`` (default) uses ``cutechess-cli`` or ``fastchess`` when one is on
PATH and otherwise the built-in runner on python-chess's asyncio
``chess.engine``; ``--runner builtin`` forces the latter and ``--runner PATH``
names an external runner.  All runners write the same PGN tags and the
statistics are computed from the same game records (parsed back from the PGN
for external runners).

Failures
--------
Every engine interaction has a timeout, so a broken engine costs games, not the
match.  Faults are counted per engine: *time losses* (flag fell, including
``movetime`` overruns beyond ``--timemargin``), *illegal moves* (an illegal or
unparsable ``bestmove``, or none at all), *crashes* (the process exited) and
*disconnects* (no answer within ``--move-timeout`` at fixed nodes/depth, or to
the start-up handshake).  A faulting engine is restarted for the next game.

Adjudication
------------
As fishtest: a game is resigned when the loser's score is at or below
``-score`` cp for ``movecount`` consecutive moves (``twosided``: and the winner's
at or above ``+score``); drawn when both scores stay within ``score`` cp for
``movecount`` consecutive moves after move ``movenumber``.  Defaults are
fishtest's ``--resign movecount=3 score=600 twosided=true`` and
``--draw movenumber=34 movecount=8 score=20``; ``--resign off``/``--draw off``
disable them; ``--maxmoves N`` declares a draw after N full moves.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import logging
import math
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import chess
import chess.engine
import chess.pgn

from engine.stats import (CONTINUE, SPRT, EloEstimate, format_elo, pentanomial_estimate,
                          trinomial_estimate)

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_BOOK = DATA_DIR / "UHO_4060_v4_1000.epd"
STOCKFISH_CANDIDATES = ("stockfish", "/usr/games/stockfish")
STOCKFISH_DEFAULT_OPTIONS = {"Threads": "1", "Hash": "16"}
STOCKFISH_ELO_MIN, STOCKFISH_ELO_MAX = 1350, 2850
SKILL_MIN, SKILL_MAX = 0, 20
EXTERNAL_RUNNERS = ("cutechess-cli", "fastchess")

#: Seconds allowed for the UCI handshake and option setup of an engine.
DEFAULT_STARTUP_TIMEOUT = 30.0
#: Seconds allowed for one move without a clock (fixed nodes or depth).
DEFAULT_MOVE_TIMEOUT = 60.0
#: Milliseconds an engine may overrun its clock or movetime before it forfeits.
DEFAULT_TIMEMARGIN_MS = 50
#: Extra seconds beyond clock + margin before a silent engine is killed.
FLAG_GRACE = 1.0
#: Seconds to wait for an engine to quit before killing it.
QUIT_TIMEOUT = 2.0
#: Centipawn value of a mate score (any large number works for adjudication).
MATE_SCORE_CP = 100_000

# Termination tag values (PGN standard where one exists, otherwise cutechess's).
TERM_NORMAL = "normal"
TERM_ADJUDICATION = "adjudication"
TERM_TIME = "time forfeit"
TERM_ILLEGAL = "illegal move"
TERM_CRASH = "abandoned"
TERM_STALL = "stalled connection"
TERM_UNTERMINATED = "unterminated"

# Fault counters.
TIME_LOSS = "time_losses"
ILLEGAL_MOVE = "illegal_moves"
CRASH = "crashes"
DISCONNECT = "disconnects"
FAULTS = (TIME_LOSS, ILLEGAL_MOVE, CRASH, DISCONNECT)
FAULT_BY_TERMINATION = {TERM_TIME: TIME_LOSS, TERM_ILLEGAL: ILLEGAL_MOVE, TERM_CRASH: CRASH,
                        TERM_STALL: DISCONNECT}
REASON_PATTERNS = (
    (re.compile(r"\b(White|Black) loses on time"), TIME_LOSS),
    (re.compile(r"\b(White|Black) makes an illegal move"), ILLEGAL_MOVE),
    (re.compile(r"\b(White|Black) disconnects"), CRASH),
    (re.compile(r"\b(White|Black)'s connection stalls"), DISCONNECT),
)
OUTCOME_REASONS = {
    chess.Termination.STALEMATE: "Draw by stalemate",
    chess.Termination.INSUFFICIENT_MATERIAL: "Draw by insufficient mating material",
    chess.Termination.SEVENTYFIVE_MOVES: "Draw by fifty moves rule",
    chess.Termination.FIFTY_MOVES: "Draw by fifty moves rule",
    chess.Termination.FIVEFOLD_REPETITION: "Draw by 3-fold repetition",
    chess.Termination.THREEFOLD_REPETITION: "Draw by 3-fold repetition",
}
RESULT_POINTS = {"1-0": (1.0, 0.0), "0-1": (0.0, 1.0), "1/2-1/2": (0.5, 0.5)}


class InfoStringFilter(logging.Filter):
    """Drops python-chess's "Unexpected engine output" warning for ``info string`` lines.

    UCI lets an engine send ``info string`` at any time (ours announces the net it loaded while
    answering ``isready``); python-chess warns about any line the command in flight did not
    expect, which filled match logs with warnings about valid output. Other unexpected lines
    still warn.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        return not (str(record.msg).endswith("Unexpected engine output: %r") and isinstance(args, tuple)
                    and len(args) == 2 and str(args[1]).startswith("info string"))


class MatchError(Exception):
    """A match cannot be set up or run (bad spec, engine that never starts...)."""


# --------------------------------------------------------------------------- specs


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


def find_stockfish() -> str | None:
    """Path of a Stockfish binary (PATH, then the Debian location), or ``None``."""
    for candidate in STOCKFISH_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


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
        if token == "stockfish":
            path = find_stockfish()
            if path is None:
                raise MatchError("stockfish not found on PATH or in /usr/games "
                                 "(apt-get install stockfish)")
            command = [path]
            options = {**STOCKFISH_DEFAULT_OPTIONS, **options}
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
        if "UCI_Elo" in options and options.get("UCI_LimitStrength") == "true":
            name += options["UCI_Elo"]
        elif "Skill Level" in options:
            name += f"-skill{options['Skill Level']}"
    return EngineSpec(name=name, command=tuple(command), options=tuple(options.items()),
                      limit=limit, workdir=workdir)


# ------------------------------------------------------------------------ openings


@dataclass(frozen=True)
class Opening:
    """A start position and the book moves played from it.

    :ivar fen: FEN of the start position.
    :ivar moves: book moves (UCI) played from ``fen``.
    """

    fen: str
    moves: tuple[str, ...] = ()

    def board(self) -> chess.Board:
        """The position after the book moves."""
        board = chess.Board(self.fen)
        for move in self.moves:
            board.push_uci(move)
        return board


def _read_epd(path: Path) -> list[Opening]:
    openings = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        board = chess.Board()
        fields = line.split(";")[0].split()
        try:
            if len(fields) == 6 and fields[4].isdigit() and fields[5].isdigit():
                board.set_fen(" ".join(fields))  # a FEN with move counters
            else:
                board.set_epd(line)
        except ValueError as exc:
            raise MatchError(f"{path}:{number}: bad EPD: {exc}") from exc
        openings.append(Opening(board.fen()))
    return openings


def _read_pgn(path: Path, plies: int | None, limit: int | None) -> list[Opening]:
    openings: list[Opening] = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        while limit is None or len(openings) < limit:
            game = chess.pgn.read_game(handle)
            if game is None:
                break
            if game.errors:
                raise MatchError(f"{path}: bad PGN game {len(openings) + 1}: {game.errors[0]}")
            moves = [move.uci() for move in game.mainline_moves()]
            openings.append(Opening(game.board().fen(), tuple(moves[:plies])))
    return openings


def load_openings(path: Path, count: int, *, order: str = "sequential", start: int = 1,
                  plies: int | None = None, seed: int | None = None) -> list[Opening]:
    """Read ``count`` openings from an EPD or PGN book (by file extension).

    :param path: the book.
    :param count: openings needed (the book is cycled if it is shorter).
    :param order: ``sequential`` (from ``start``) or ``random`` (seeded shuffle).
    :param start: 1-based index of the first opening (sequential order).
    :param plies: PGN books: keep at most this many book plies.
    :param seed: random order: the seed.
    """
    if not path.is_file():
        raise MatchError(f"opening book {path} not found")
    suffix = path.suffix.lower()
    if suffix == ".pgn":
        needed = None if order == "random" else start - 1 + count
        book = _read_pgn(path, plies, needed)
    elif suffix in (".epd", ".fen"):
        book = _read_epd(path)
    else:
        raise MatchError(f"opening book {path}: expected .epd or .pgn")
    if not book:
        raise MatchError(f"opening book {path} is empty")
    if order == "random":
        random.Random(seed).shuffle(book)
        first = 0
    else:
        first = (start - 1) % len(book)
    return [book[(first + i) % len(book)] for i in range(count)]


# ----------------------------------------------------------------- game records


@dataclass
class GameRecord:
    """The outcome of one game.

    :ivar number: 1-based game number in schedule order.
    :ivar pair: 1-based pair number (the two games of an opening share it).
    :ivar white: name of the engine playing white.
    :ivar black: name of the engine playing black.
    :ivar result: ``1-0``, ``0-1``, ``1/2-1/2`` or ``*``.
    :ivar termination: PGN Termination tag value.
    :ivar reason: result comment, e.g. ``White loses on time``.
    :ivar fault: fault counter key (``time_losses``...) or ``None``.
    :ivar culprit: name of the faulting engine, or ``None``.
    :ivar pgn: the game as PGN text.
    """

    number: int
    pair: int
    white: str
    black: str
    result: str
    termination: str
    reason: str
    fault: str | None = None
    culprit: str | None = None
    pgn: str = ""

    def points(self, name: str) -> float | None:
        """Points scored by the engine ``name`` (``None`` for an unfinished game)."""
        if self.result not in RESULT_POINTS:
            return None
        white, black = RESULT_POINTS[self.result]
        if name == self.white:
            return white
        if name == self.black:
            return black
        raise KeyError(f"{name!r} did not play game {self.number}")


@dataclass
class MatchResult:
    """Results of a match between engines ``a`` and ``b``, from ``a``'s point of view.

    :ivar a: name of the first engine.
    :ivar b: name of the second engine.
    :ivar games: the game records.
    :ivar sprt: the SPRT, if one was run.
    :ivar runner: which runner played the games.
    """

    a: str
    b: str
    games: list[GameRecord]
    sprt: SPRT | None = None
    runner: str = "builtin"

    @property
    def wins(self) -> int:
        """Games won by ``a``."""
        return sum(1 for g in self.games if g.points(self.a) == 1.0)

    @property
    def draws(self) -> int:
        """Drawn games."""
        return sum(1 for g in self.games if g.points(self.a) == 0.5)

    @property
    def losses(self) -> int:
        """Games lost by ``a``."""
        return sum(1 for g in self.games if g.points(self.a) == 0.0)

    @property
    def played(self) -> int:
        """Finished games."""
        return self.wins + self.draws + self.losses

    def pentanomial(self) -> list[int]:
        """``[LL, LD, WL+DD, WD, WW]`` over the pairs with both games finished."""
        by_pair: dict[int, list[float]] = {}
        for game in self.games:
            points = game.points(self.a)
            if points is not None:
                by_pair.setdefault(game.pair, []).append(points)
        counts = [0] * 5
        for pair_points in by_pair.values():
            if len(pair_points) == 2:
                counts[int(round(2 * sum(pair_points)))] += 1
        return counts

    def trinomial(self) -> EloEstimate:
        """Elo estimate treating games as independent."""
        return trinomial_estimate(self.wins, self.draws, self.losses)

    def estimate(self) -> EloEstimate:
        """Elo estimate from the pairs when there are any, else from the games."""
        penta = self.pentanomial()
        return pentanomial_estimate(penta) if sum(penta) else self.trinomial()

    def llr(self) -> float | None:
        """SPRT log-likelihood ratio on the pentanomial, if an SPRT is configured."""
        return None if self.sprt is None else self.sprt.llr(self.pentanomial())

    def faults(self) -> dict[str, dict[str, int]]:
        """Fault counts per engine name: ``{name: {"time_losses": n, ...}}``."""
        table = {name: dict.fromkeys(FAULTS, 0) for name in (self.a, self.b)}
        for game in self.games:
            if game.fault and game.culprit in table:
                table[game.culprit][game.fault] += 1
        return table

    def terminations(self) -> dict[str, int]:
        """Number of games per Termination value."""
        counts: dict[str, int] = {}
        for game in self.games:
            counts[game.termination] = counts.get(game.termination, 0) + 1
        return counts

    def pgn_text(self) -> str:
        """All games as one PGN text."""
        return "".join(g.pgn.rstrip() + "\n\n" for g in self.games)

    def progress_text(self) -> str:
        """Short status: W-D-L, score, Elo +- error, LLR."""
        if not self.played:
            return "W-D-L 0-0-0"
        est = self.estimate()
        text = (f"W-D-L {self.wins}-{self.draws}-{self.losses} score {100 * est.score:.1f}% "
                f"Elo {format_elo(est.elo)} +- {format_elo(est.error, sign=False)}")
        llr = self.llr()
        if llr is not None and self.sprt is not None:
            text += f" LLR {llr:.2f} [{self.sprt.lower_bound:.2f}, {self.sprt.upper_bound:.2f}]"
        return text

    def summary(self) -> str:
        """Multi-line final report, cutechess-cli style."""
        lines = [f"Score of {self.a} vs {self.b}: {self.wins} - {self.losses} - {self.draws} "
                 f"[{self.trinomial().score:.3f}] {self.played}" if self.played else
                 f"Score of {self.a} vs {self.b}: no finished games"]
        if self.played:
            tri = self.trinomial()
            est = self.estimate()
            penta = self.pentanomial()
            lines.append(f"Elo difference: {format_elo(tri.elo)} +/- {format_elo(tri.error, sign=False)}, "
                         f"LOS: {100 * tri.los:.1f} %, DrawRatio: {100 * tri.draw_ratio:.1f} %")
            if sum(penta):
                lines.append(f"Pentanomial [LL, LD, WL+DD, WD, WW]: {penta}; Elo "
                             f"{format_elo(est.elo)} +/- {format_elo(est.error, sign=False)}, "
                             f"nElo {format_elo(est.nelo)} +/- {format_elo(est.nelo_error, sign=False)}, "
                             f"LOS {100 * est.los:.1f} %")
            llr = self.llr()
            if llr is not None and self.sprt is not None:
                lines.append(f"{self.sprt.describe()}: LLR {llr:.2f} -> {self.sprt.state(llr)}")
        terms = ", ".join(f"{k}: {v}" for k, v in sorted(self.terminations().items()))
        lines.append(f"Terminations: {terms or 'none'}")
        for name, counts in self.faults().items():
            lines.append(f"Faults of {name}: " + ", ".join(f"{k.replace('_', ' ')} {v}"
                                                           for k, v in counts.items()))
        return "\n".join(lines)


def _fault_from_text(termination: str, reason: str, result: str) -> tuple[str | None, str | None]:
    """Fault key and faulting colour ("White"/"Black") from a Termination tag and reason."""
    for pattern, fault in REASON_PATTERNS:
        found = pattern.search(reason)
        if found:
            return fault, found.group(1)
    tagged = FAULT_BY_TERMINATION.get(termination.lower())
    if tagged is None:
        return None, None
    loser = {"1-0": "Black", "0-1": "White"}.get(result)
    return tagged, loser


def records_from_pgn(text: str) -> list[GameRecord]:
    """Game records from a PGN written by this module, cutechess-cli or fastchess.

    Games are ordered by their Round tag (stable, so games sharing a round keep
    file order) and consecutive games form the colour-swapped pairs.

    :param text: PGN text.
    """
    games: list[tuple[float, int, chess.pgn.Game]] = []
    handle = io.StringIO(text)
    while (game := chess.pgn.read_game(handle)) is not None:
        try:
            round_key = float(game.headers.get("Round", "0").split(".")[0])
        except ValueError:
            round_key = 0.0
        games.append((round_key, len(games), game))
    games.sort(key=lambda item: (item[0], item[1]))
    records = []
    for index, (_, _, game) in enumerate(games):
        headers = game.headers
        result = headers.get("Result", "*")
        end = game.end()
        comments = [node.comment for node in (end, game) if node.comment]
        reason = headers.get("TerminationDetails", "") or (comments[0] if comments else "")
        termination = headers.get("Termination", TERM_NORMAL)
        fault, colour = _fault_from_text(termination, " ".join(comments + [reason]), result)
        culprit = {"White": headers.get("White"), "Black": headers.get("Black")}.get(colour or "")
        exporter = chess.pgn.StringExporter(headers=True, variations=True, comments=True)
        records.append(GameRecord(number=index + 1, pair=index // 2 + 1,
                                  white=headers.get("White", "?"), black=headers.get("Black", "?"),
                                  result=result, termination=termination, reason=reason,
                                  fault=fault, culprit=culprit, pgn=game.accept(exporter)))
    return records


# ---------------------------------------------------------------- adjudication


@dataclass(frozen=True)
class Adjudication:
    """Resign/draw adjudication rules (``movecount = 0`` disables a rule).

    :ivar resign_movecount: consecutive moves a side must be lost.
    :ivar resign_score: centipawns below zero that count as lost.
    :ivar resign_twosided: the winner must also report at least ``+resign_score``.
    :ivar draw_movenumber: first full move number at which a draw may be adjudicated.
    :ivar draw_movecount: consecutive full moves with both scores near zero.
    :ivar draw_score: centipawns from zero that count as drawn.
    :ivar maxmoves: declare a draw after this many full moves (0: never).
    """

    resign_movecount: int = 3
    resign_score: int = 600
    resign_twosided: bool = True
    draw_movenumber: int = 34
    draw_movecount: int = 8
    draw_score: int = 20
    maxmoves: int = 0

    def describe(self) -> str:
        """Compact text for reports."""
        parts = []
        if self.resign_movecount:
            parts.append(f"resign movecount={self.resign_movecount} score={self.resign_score} "
                         f"twosided={str(self.resign_twosided).lower()}")
        if self.draw_movecount:
            parts.append(f"draw movenumber={self.draw_movenumber} "
                         f"movecount={self.draw_movecount} score={self.draw_score}")
        if self.maxmoves:
            parts.append(f"maxmoves={self.maxmoves}")
        return "; ".join(parts) or "off"


class Adjudicator:
    """Tracks the engines' scores through one game and applies :class:`Adjudication`."""

    def __init__(self, rules: Adjudication) -> None:
        self.rules = rules
        self.losing = {chess.WHITE: 0, chess.BLACK: 0}
        self.winning = {chess.WHITE: 0, chess.BLACK: 0}
        self.drawish = 0

    def update(self, mover: chess.Color, score_cp: int | None,
               board: chess.Board) -> tuple[str, str] | None:
        """Record the score of the side that just moved; adjudicate if a rule fires.

        :param mover: colour that just moved.
        :param score_cp: its score from its own point of view (``None``: no score).
        :param board: position after the move.
        :returns: ``(result, reason)`` or ``None``.
        """
        rules = self.rules
        if score_cp is None:
            self.losing[mover] = self.winning[mover] = self.drawish = 0
        else:
            self.losing[mover] = self.losing[mover] + 1 if score_cp <= -rules.resign_score else 0
            self.winning[mover] = self.winning[mover] + 1 if score_cp >= rules.resign_score else 0
            self.drawish = self.drawish + 1 if abs(score_cp) <= rules.draw_score else 0
        if rules.resign_movecount:
            for side in (mover, not mover):
                lost = self.losing[side] >= rules.resign_movecount
                confirmed = (not rules.resign_twosided
                             or self.winning[not side] >= rules.resign_movecount)
                if lost and confirmed:
                    winner = "White" if side == chess.BLACK else "Black"
                    return ("1-0" if side == chess.BLACK else "0-1",
                            f"{winner} wins by adjudication")
        if (rules.draw_movecount and board.ply() // 2 >= rules.draw_movenumber
                and self.drawish >= 2 * rules.draw_movecount):
            return "1/2-1/2", "Draw by adjudication"
        if rules.maxmoves and board.ply() // 2 >= rules.maxmoves:
            return "1/2-1/2", "Draw by adjudication: maximum moves"
        return None


# ------------------------------------------------------------ engine processes


@dataclass
class EngineProcess:
    """A running UCI engine driven through python-chess's asyncio protocol.

    Every call has a timeout; on a timeout or a dead process the engine is
    killed and :meth:`ensure_started` starts a fresh one.
    """

    spec: EngineSpec
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT
    stderr: int | io.IOBase | None = subprocess.DEVNULL
    transport: asyncio.SubprocessTransport | None = None
    protocol: chess.engine.UciProtocol | None = None
    starts: int = 0

    @property
    def alive(self) -> bool:
        """Whether the process is running."""
        return self.protocol is not None and not self.protocol.returncode.done()

    async def ensure_started(self) -> None:
        """Start the engine and send its options unless it is already running.

        :raises MatchError: when the command cannot be executed, the engine does
            not complete the UCI handshake in time, or rejects an option.
        """
        if self.alive:
            return
        await self.kill()
        if not any(isinstance(f, InfoStringFilter) for f in chess.engine.LOGGER.filters):
            chess.engine.LOGGER.addFilter(InfoStringFilter())
        try:
            transport, protocol = await asyncio.wait_for(
                chess.engine.popen_uci(list(self.spec.command), cwd=self.spec.workdir,
                                       stderr=self.stderr),
                self.startup_timeout)
            self.transport, self.protocol = transport, protocol
            await asyncio.wait_for(protocol.configure(self.spec.option_dict()),
                                   self.startup_timeout)
            await asyncio.wait_for(protocol.ping(), self.startup_timeout)
        except (OSError, chess.engine.EngineError, asyncio.TimeoutError) as exc:
            await self.kill()
            what = "timed out" if isinstance(exc, asyncio.TimeoutError) else str(exc)
            raise MatchError(f"engine {self.spec.name} ({shlex.join(self.spec.command)}) "
                             f"failed to start: {what}") from exc
        self.starts += 1

    async def kill(self) -> None:
        """Kill the process (if any) and forget it."""
        transport, protocol = self.transport, self.protocol
        self.transport = self.protocol = None
        if transport is not None:
            transport.close()
        if protocol is not None:
            with contextlib.suppress(asyncio.TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(protocol.returncode), QUIT_TIMEOUT)

    async def quit(self) -> None:
        """Ask the engine to quit, killing it if it does not in time."""
        if self.alive and self.protocol is not None:
            with contextlib.suppress(asyncio.TimeoutError, chess.engine.EngineError):
                await asyncio.wait_for(self.protocol.quit(), QUIT_TIMEOUT)
        await self.kill()

    async def search(self, board: chess.Board, limit: chess.engine.Limit, timeout: float, *,
                     game: object = None,
                     info: chess.engine.Info = chess.engine.INFO_ALL) -> chess.engine.PlayResult:
        """Search ``board`` (starting the engine if needed) and return its move and info.

        :param game: a key per game: ``ucinewgame`` is sent when it changes.
        :raises asyncio.TimeoutError: when no move arrives in ``timeout`` seconds.
        :raises chess.engine.EngineError: when the engine dies or sends a bad move
            (``EngineTerminatedError`` for a dead process).  After any exception the
            engine is killed.
        :raises MatchError: when the engine cannot be (re)started.
        """
        await self.ensure_started()
        assert self.protocol is not None
        try:
            return await asyncio.wait_for(
                self.protocol.play(board, limit, game=game, info=info), timeout)
        except (asyncio.TimeoutError, chess.engine.EngineError):
            await self.kill()
            raise


def score_cp(info: chess.engine.InfoDict) -> int | None:
    """Score of an info dict in centipawns for the side to move (mates are large)."""
    score = info.get("score")
    return None if score is None else score.relative.score(mate_score=MATE_SCORE_CP)


def _move_comment(info: chess.engine.InfoDict, elapsed: float) -> str:
    """cutechess-style move comment: ``+0.25/12 0.051s``."""
    score = info.get("score")
    text = ""
    if score is not None:
        relative = score.relative
        mate = relative.mate()
        if mate is not None:
            text = f"{'+' if mate > 0 else '-'}M{abs(mate)}"
        else:
            text = f"{(relative.score() or 0) / 100:+.2f}"
        text += f"/{info.get('depth', 0)} "
    return f"{text}{elapsed:.3f}s"


# ---------------------------------------------------------------------- config


@dataclass(frozen=True)
class MatchConfig:
    """Everything needed to play a match.

    :ivar engines: the two engines (``engines[0]`` is engine A).
    :ivar games: number of games (rounded up to colour-swapped pairs).
    :ivar book: opening book path, or ``None`` for the standard start position.
    :ivar book_order: ``sequential`` or ``random``.
    :ivar book_start: 1-based first opening (sequential order).
    :ivar book_plies: PGN books: maximum book plies.
    :ivar seed: random seed for ``random`` book order.
    :ivar concurrency: games played at once.
    :ivar adjudication: adjudication rules.
    :ivar timemargin_ms: allowed clock/movetime overrun.
    :ivar move_timeout: seconds per move without a clock before a disconnect.
    :ivar startup_timeout: seconds for the UCI handshake.
    :ivar sprt: SPRT to stop early, or ``None``.
    :ivar pgnout: PGN output file, or ``None``.
    :ivar event: PGN Event tag.
    :ivar runner: ``builtin``, ``auto`` or the path of cutechess-cli/fastchess.
    :ivar progress: show a live progress line.
    :ivar engine_stderr: file receiving the engines' stderr, or ``None`` to discard.
    """

    engines: tuple[EngineSpec, EngineSpec]
    games: int = 2
    book: Path | None = DEFAULT_BOOK
    book_order: str = "sequential"
    book_start: int = 1
    book_plies: int | None = None
    seed: int | None = None
    concurrency: int = 1
    adjudication: Adjudication = field(default_factory=Adjudication)
    timemargin_ms: int = DEFAULT_TIMEMARGIN_MS
    move_timeout: float = DEFAULT_MOVE_TIMEOUT
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT
    sprt: SPRT | None = None
    pgnout: Path | None = None
    event: str = "engine match"
    runner: str = "builtin"
    progress: bool = False
    engine_stderr: Path | None = None

    @property
    def pairs(self) -> int:
        """Number of colour-swapped game pairs."""
        return max(1, math.ceil(self.games / 2))


def max_concurrency() -> int:
    """Games that may run at once: one per two cores, so engines never outnumber cores."""
    return max(1, (os.cpu_count() or 1) // 2)


def _openings_for(config: MatchConfig) -> list[Opening]:
    if config.book is None:
        return [Opening(chess.STARTING_FEN)] * config.pairs
    return load_openings(config.book, config.pairs, order=config.book_order,
                         start=config.book_start, plies=config.book_plies, seed=config.seed)


# ------------------------------------------------------------- built-in runner


@dataclass
class _GameState:
    """Mutable state of a game being played by the built-in runner."""

    board: chess.Board
    game: chess.pgn.Game
    node: chess.pgn.GameNode
    clocks: dict[chess.Color, float]
    moves_in_period: dict[chess.Color, int]


def _pgn_headers(game: chess.pgn.Game, config: MatchConfig, number: int,
                 white: EngineSpec, black: EngineSpec) -> None:
    headers = game.headers
    headers["Event"] = config.event
    headers["Site"] = "?"
    headers["Date"] = date.today().strftime("%Y.%m.%d")
    headers["Round"] = str(number)
    headers["White"] = white.name
    headers["Black"] = black.name
    wtc, btc = white.limit.pgn_time_control(), black.limit.pgn_time_control()
    if wtc == btc:
        headers["TimeControl"] = wtc
    else:
        headers["WhiteTimeControl"], headers["BlackTimeControl"] = wtc, btc
        headers["TimeControl"] = "-"
    wl, bl = white.limit.describe(), black.limit.describe()
    if wl == bl:
        headers["SearchLimit"] = wl
    else:
        headers["WhiteSearchLimit"], headers["BlackSearchLimit"] = wl, bl


class BuiltinRunner:
    """Plays a match with python-chess's asyncio engine API."""

    def __init__(self, config: MatchConfig,
                 on_game: Callable[[MatchResult], None] | None = None) -> None:
        self.config = config
        self.on_game = on_game
        self.result = MatchResult(config.engines[0].name, config.engines[1].name, [],
                                  sprt=config.sprt, runner="builtin")
        self.started_once = [False, False]

    def run(self) -> MatchResult:
        """Play all pairs (or until the SPRT decides) and return the results."""
        openings = _openings_for(self.config)
        stderr: contextlib.AbstractContextManager[object]
        if self.config.engine_stderr is not None:
            stderr = self.config.engine_stderr.open("a")
        else:
            stderr = contextlib.nullcontext(subprocess.DEVNULL)
        with stderr as sink:
            asyncio.run(self._run(openings, sink))
        self.result.games.sort(key=lambda g: g.number)
        return self.result

    async def _run(self, openings: list[Opening], sink: object) -> None:
        queue: asyncio.Queue[tuple[int, Opening]] = asyncio.Queue()
        for index, opening in enumerate(openings):
            queue.put_nowait((index + 1, opening))
        workers = min(self.config.concurrency, len(openings))
        tasks = [asyncio.create_task(self._worker(queue, sink)) for _ in range(workers)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _decided(self) -> bool:
        sprt = self.config.sprt
        if sprt is None:
            return False
        llr = self.result.llr()
        return llr is not None and sprt.state(llr) != CONTINUE

    async def _worker(self, queue: asyncio.Queue[tuple[int, Opening]], sink: object) -> None:
        players = [EngineProcess(spec, self.config.startup_timeout, sink)  # type: ignore[arg-type]
                   for spec in self.config.engines]
        try:
            while not queue.empty() and not self._decided():
                pair, opening = queue.get_nowait()
                for game_in_pair in range(2):
                    number = 2 * (pair - 1) + game_in_pair + 1
                    white, black = (0, 1) if game_in_pair == 0 else (1, 0)
                    record = await self._play(players[white], players[black], white == 0,
                                              opening, number, pair)
                    self.result.games.append(record)
                    if self.on_game is not None:
                        self.on_game(self.result)
        finally:
            for player in players:
                await player.quit()

    async def _start(self, player: EngineProcess, index: int) -> bool:
        """Start an engine; a first start failure aborts the match, later ones lose games."""
        try:
            await player.ensure_started()
        except MatchError:
            if not self.started_once[index]:
                raise
            return False
        self.started_once[index] = True
        return True

    async def _play(self, white: EngineProcess, black: EngineProcess, a_is_white: bool,
                    opening: Opening, number: int, pair: int) -> GameRecord:
        config = self.config
        players = {chess.WHITE: white, chess.BLACK: black}
        indices = {chess.WHITE: 0 if a_is_white else 1, chess.BLACK: 1 if a_is_white else 0}
        game = chess.pgn.Game()
        game.setup(chess.Board(opening.fen))
        node: chess.pgn.GameNode = game
        for uci in opening.moves:
            node = node.add_variation(chess.Move.from_uci(uci))
        clocks = {colour: (p.spec.limit.tc.base if p.spec.limit.tc else 0.0)
                  for colour, p in players.items()}
        state = _GameState(board=opening.board(), game=game, node=node, clocks=clocks,
                           moves_in_period={chess.WHITE: 0, chess.BLACK: 0})
        _pgn_headers(game, config, number, white.spec, black.spec)
        for colour in (chess.WHITE, chess.BLACK):
            if not await self._start(players[colour], indices[colour]):
                failed = self._fault_result(colour, CRASH, "")
                return self._finish(state, *failed[:3], number, pair, fault=failed[3],
                                    culprit=players[colour].spec.name)
        adjudicator = Adjudicator(config.adjudication)
        key = object()
        while True:
            board = state.board
            outcome = board.outcome(claim_draw=True)
            if outcome is not None:
                if outcome.winner is None:
                    reason = OUTCOME_REASONS.get(outcome.termination, "Draw")
                else:
                    reason = f"{'White' if outcome.winner else 'Black'} mates"
                return self._finish(state, outcome.result(), TERM_NORMAL, reason, number, pair)
            colour = board.turn
            player = players[colour]
            verdict = await self._move(player, colour, state, key, adjudicator)
            if verdict is not None:
                culprit = player.spec.name if verdict[3] else None
                return self._finish(state, *verdict[:3], number, pair, fault=verdict[3],
                                    culprit=culprit)

    def _go_limit(self, player: EngineProcess, colour: chess.Color,
                  state: _GameState) -> tuple[chess.engine.Limit, float, float | None]:
        """The UCI limit, the wall-clock timeout and the time budget (None: no clock)."""
        limit = player.spec.limit
        margin = self.config.timemargin_ms / 1000.0
        go = chess.engine.Limit(nodes=limit.nodes, depth=limit.depth)
        budget: float | None = None
        if limit.tc is not None:
            tc = limit.tc
            go.white_clock = state.clocks[chess.WHITE] if state.clocks[chess.WHITE] else state.clocks[colour]
            go.black_clock = state.clocks[chess.BLACK] if state.clocks[chess.BLACK] else state.clocks[colour]
            go.white_inc = go.black_inc = tc.increment
            if tc.moves:
                go.remaining_moves = tc.moves - state.moves_in_period[colour]
            budget = state.clocks[colour]
        if limit.movetime_ms is not None:
            go.time = limit.movetime_ms / 1000.0
            budget = go.time if budget is None else min(budget, go.time)
        timeout = budget + margin + FLAG_GRACE if budget is not None else self.config.move_timeout
        return go, timeout, budget

    async def _move(self, player: EngineProcess, colour: chess.Color, state: _GameState,
                    key: object, adjudicator: Adjudicator) -> tuple[str, str, str, str | None] | None:
        """Let ``player`` move; return ``(result, termination, reason, fault)`` if the game ends."""
        go, timeout, budget = self._go_limit(player, colour, state)
        margin = self.config.timemargin_ms / 1000.0
        start = time.monotonic()
        try:
            played = await player.search(state.board, go, timeout, game=key,
                                         info=chess.engine.INFO_BASIC | chess.engine.INFO_SCORE)
        except asyncio.TimeoutError:
            if budget is not None:
                return self._fault_result(colour, TIME_LOSS, "", state.board)
            return self._fault_result(colour, DISCONNECT, "")
        except (chess.engine.EngineTerminatedError, MatchError):
            return self._fault_result(colour, CRASH, "")
        except chess.engine.EngineError as exc:
            found = re.search(r"'([^']*)'", str(exc))
            return self._fault_result(colour, ILLEGAL_MOVE, found.group(1) if found else str(exc))
        elapsed = time.monotonic() - start
        if budget is not None and elapsed > budget + margin:
            return self._fault_result(colour, TIME_LOSS, "", state.board)
        move = played.move
        if move is None or move not in state.board.legal_moves:
            return self._fault_result(colour, ILLEGAL_MOVE, "(none)" if move is None else move.uci())
        tc = player.spec.limit.tc
        if tc is not None:
            state.clocks[colour] += tc.increment - elapsed
            state.moves_in_period[colour] += 1
            if tc.moves and state.moves_in_period[colour] >= tc.moves:
                state.clocks[colour] += tc.base
                state.moves_in_period[colour] = 0
        state.board.push(move)
        state.node = state.node.add_variation(move, comment=_move_comment(played.info, elapsed))
        verdict = adjudicator.update(colour, score_cp(played.info), state.board)
        if verdict is not None:
            return verdict[0], TERM_ADJUDICATION, verdict[1], None
        return None

    @staticmethod
    def _fault_result(colour: chess.Color, fault: str, detail: str,
                      board: chess.Board | None = None) -> tuple[str, str, str, str]:
        side = "White" if colour == chess.WHITE else "Black"
        result = "0-1" if colour == chess.WHITE else "1-0"
        if fault == TIME_LOSS:
            reason = f"{side} loses on time"
            if board is not None and board.has_insufficient_material(not colour):
                result, reason = "1/2-1/2", f"{reason}, draw by insufficient mating material"
            return result, TERM_TIME, reason, fault
        if fault == ILLEGAL_MOVE:
            return result, TERM_ILLEGAL, f"{side} makes an illegal move: {detail}", fault
        if fault == CRASH:
            return result, TERM_CRASH, f"{side} disconnects", fault
        return result, TERM_STALL, f"{side}'s connection stalls", fault

    def _finish(self, state: _GameState, result: str, termination: str, reason: str,
                number: int, pair: int, fault: str | None = None,
                culprit: str | None = None) -> GameRecord:
        game = state.game
        game.headers["Result"] = result
        game.headers["Termination"] = termination
        game.headers["PlyCount"] = str(state.board.ply())
        state.node.comment = f"{state.node.comment} {reason}".strip() if state.node is not game \
            else reason
        exporter = chess.pgn.StringExporter(headers=True, variations=True, comments=True)
        return GameRecord(number=number, pair=pair, white=game.headers["White"],
                          black=game.headers["Black"], result=result, termination=termination,
                          reason=reason, fault=fault, culprit=culprit, pgn=game.accept(exporter))


# ------------------------------------------------------------ external runners


def detect_runner(requested: str) -> str:
    """Resolve ``--runner``: ``builtin``, or the path of cutechess-cli / fastchess.

    :param requested: ``auto``, ``builtin``, a runner name or a path.
    """
    if requested == "builtin":
        return "builtin"
    if requested == "auto":
        for name in EXTERNAL_RUNNERS:
            found = shutil.which(name)
            if found:
                return found
        return "builtin"
    found = shutil.which(requested)
    if found is None:
        raise MatchError(f"runner {requested!r} not found")
    return found


def runner_kind(path: str) -> str:
    """``fastchess`` or ``cutechess`` from the runner's file name."""
    return "fastchess" if "fastchess" in Path(path).name.lower() else "cutechess"


def _limit_tokens(limit: SearchLimit, kind: str) -> list[str]:
    tokens = []
    if limit.tc is not None:
        tokens.append(f"tc={limit.pgn_time_control()}")
    elif limit.movetime_ms is None and kind == "cutechess":
        tokens.append("tc=inf")
    if limit.movetime_ms is not None:
        tokens.append(f"st={limit.movetime_ms / 1000:g}")
    if limit.nodes is not None:
        tokens.append(f"nodes={limit.nodes}")
    if limit.depth is not None:
        tokens.append(f"depth={limit.depth}")
    return tokens


def external_command(runner: str, config: MatchConfig, pgn_path: Path,
                     book: Path | None) -> list[str]:
    """The cutechess-cli or fastchess command line equivalent to ``config``.

    :param runner: path of the runner.
    :param config: the match.
    :param pgn_path: where the runner writes its PGN.
    :param book: the opening book (already resolved; ``None`` for the start position).
    """
    kind = runner_kind(runner)
    cmd = [runner]
    for spec in config.engines:
        program, *args = spec.command
        cmd += ["-engine", f"cmd={program}", f"name={spec.name}"]
        if kind == "fastchess":
            if args:
                cmd.append(f"args={shlex.join(args)}")
        else:
            cmd += [f"arg={arg}" for arg in args]
            cmd.append("proto=uci")
        if spec.workdir:
            cmd.append(f"dir={spec.workdir}")
        cmd += [f"option.{name}={value}" for name, value in spec.options]
        cmd += _limit_tokens(spec.limit, kind)
        cmd.append(f"timemargin={config.timemargin_ms}")
    if book is not None:
        fmt = "pgn" if book.suffix.lower() == ".pgn" else "epd"
        cmd += ["-openings", f"file={book}", f"format={fmt}", f"order={config.book_order}",
                f"start={config.book_start}"]
        if config.book_plies is not None:
            cmd.append(f"plies={config.book_plies}")
    if config.seed is not None:
        cmd += ["-srand", str(config.seed)]
    cmd += ["-repeat", "-games", "2", "-rounds", str(config.pairs),
            "-concurrency", str(config.concurrency), "-recover"]
    adj = config.adjudication
    if adj.resign_movecount:
        cmd += ["-resign", f"movecount={adj.resign_movecount}", f"score={adj.resign_score}",
                f"twosided={str(adj.resign_twosided).lower()}"]
    if adj.draw_movecount:
        cmd += ["-draw", f"movenumber={adj.draw_movenumber}", f"movecount={adj.draw_movecount}",
                f"score={adj.draw_score}"]
    if adj.maxmoves:
        cmd += ["-maxmoves", str(adj.maxmoves)]
    if config.sprt is not None:
        sprt = config.sprt
        cmd += ["-sprt", f"elo0={sprt.elo0:g}", f"elo1={sprt.elo1:g}", f"alpha={sprt.alpha:g}",
                f"beta={sprt.beta:g}"]
        if kind == "fastchess":
            cmd.append(f"model={sprt.model}")
    if kind == "fastchess":
        cmd += ["-pgnout", f"file={pgn_path}"]
    else:
        cmd += ["-pgnout", str(pgn_path), "-event", config.event]
    return cmd


FINISHED_GAME = re.compile(r"Finished game (\d+)")


def run_external(runner: str, config: MatchConfig,
                 on_game: Callable[[MatchResult], None] | None = None) -> MatchResult:
    """Run the match with cutechess-cli or fastchess and parse its PGN.

    :param runner: path of the runner.
    :param config: the match.
    :param on_game: called with a partial result (game count only) per finished game.
    """
    book = config.book
    with tempfile.TemporaryDirectory(prefix="match-") as tmp:
        pgn_path = Path(tmp) / "games.pgn"
        cmd = external_command(runner, config, pgn_path, book)
        partial = MatchResult(config.engines[0].name, config.engines[1].name, [],
                              sprt=config.sprt, runner=runner_kind(runner))
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              bufsize=1) as process:
            assert process.stdout is not None
            tail: list[str] = []
            for line in process.stdout:
                tail = (tail + [line.rstrip()])[-20:]
                if FINISHED_GAME.search(line) and on_game is not None:
                    on_game(partial)
            code = process.wait()
        if not pgn_path.is_file():
            raise MatchError(f"{runner} exited with {code} without writing a PGN:\n"
                             + "\n".join(tail))
        records = records_from_pgn(pgn_path.read_text())
    return MatchResult(partial.a, partial.b, records, sprt=config.sprt, runner=partial.runner)


# --------------------------------------------------------------------- driver


class Progress:
    """Live progress line on stderr (tqdm), updated after every game."""

    def __init__(self, total: int, enabled: bool, label: str) -> None:
        self.bar = None
        if enabled:
            from tqdm import tqdm
            self.bar = tqdm(total=total, desc=label, unit="game", file=sys.stderr,
                            dynamic_ncols=True, leave=True)

    def __call__(self, result: MatchResult) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if result.games:
                self.bar.set_postfix_str(result.progress_text(), refresh=True)

    def close(self) -> None:
        """Remove the bar."""
        if self.bar is not None:
            self.bar.close()


def run_match(config: MatchConfig) -> MatchResult:
    """Play a match with the configured runner, write the PGN, return the results.

    :raises MatchError: when the match cannot be run.
    """
    a, b = config.engines
    if a.name == b.name:
        config = replace(config, engines=(a, replace(b, name=f"{b.name}-2")))
    for spec in config.engines:
        if not spec.limit.is_set():
            raise MatchError(f"engine {spec.name} has no search limit: give --tc, --nodes, "
                             f"--movetime or --depth (or tc=/nodes=... in its spec)")
    if config.concurrency > max_concurrency():
        print(f"concurrency {config.concurrency} capped to {max_concurrency()} "
              f"({os.cpu_count()} cores, two engines per game)", file=sys.stderr)
        config = replace(config, concurrency=max_concurrency())
    runner = detect_runner(config.runner)
    progress = Progress(2 * config.pairs, config.progress,
                        f"{config.engines[0].name} vs {config.engines[1].name}")
    try:
        if runner == "builtin":
            result = BuiltinRunner(config, progress).run()
        else:
            result = run_external(runner, config, progress)
    finally:
        progress.close()
    if config.pgnout is not None:
        config.pgnout.parent.mkdir(parents=True, exist_ok=True)
        config.pgnout.write_text(result.pgn_text())
    return result


# ------------------------------------------------------------------------ CLI


def parse_rule_tokens(tokens: Sequence[str], allowed: Sequence[str]) -> dict[str, str]:
    """``key=value`` tokens of ``--resign``/``--draw``/``--sprt`` as a dict."""
    values: dict[str, str] = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep or key not in allowed:
            raise MatchError(f"bad token {token!r}: expected one of "
                             + ", ".join(f"{k}=" for k in allowed))
        values[key] = value
    return values


def _truthy(value: str) -> bool:
    return value.lower() in ("1", "true", "yes", "on")


def adjudication_from_args(resign: Sequence[str] | None, draw: Sequence[str] | None,
                           maxmoves: int) -> Adjudication:
    """Adjudication rules from ``--resign``/``--draw`` tokens (``off`` disables)."""
    rules = Adjudication(maxmoves=maxmoves)
    if resign:
        if list(resign) == ["off"]:
            rules = replace(rules, resign_movecount=0)
        else:
            values = parse_rule_tokens(resign, ("movecount", "score", "twosided"))
            rules = replace(rules,
                            resign_movecount=int(values.get("movecount", rules.resign_movecount)),
                            resign_score=int(values.get("score", rules.resign_score)),
                            resign_twosided=_truthy(values.get("twosided", "true")))
    if draw:
        if list(draw) == ["off"]:
            rules = replace(rules, draw_movecount=0)
        else:
            values = parse_rule_tokens(draw, ("movenumber", "movecount", "score"))
            rules = replace(rules,
                            draw_movenumber=int(values.get("movenumber", rules.draw_movenumber)),
                            draw_movecount=int(values.get("movecount", rules.draw_movecount)),
                            draw_score=int(values.get("score", rules.draw_score)))
    return rules


def sprt_from_tokens(tokens: Sequence[str]) -> SPRT:
    """An :class:`SPRT` from ``elo0= elo1= [alpha=] [beta=] [model=]`` tokens."""
    values = parse_rule_tokens(tokens, ("elo0", "elo1", "alpha", "beta", "model"))
    if "elo0" not in values or "elo1" not in values:
        raise MatchError("--sprt needs elo0= and elo1=")
    try:
        return SPRT(float(values["elo0"]), float(values["elo1"]),
                    alpha=float(values.get("alpha", 0.05)), beta=float(values.get("beta", 0.05)),
                    model=values.get("model", "normalized"))
    except ValueError as exc:
        raise MatchError(f"--sprt: {exc}") from exc


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``engine match`` and ``engine gate``."""
    group = parser.add_argument_group("match options")
    group.add_argument("--book", default=str(DEFAULT_BOOK),
                       help="opening book, .epd or .pgn ('none': start position; "
                            "default: bundled UHO_4060_v4 excerpt)")
    group.add_argument("--book-order", choices=("sequential", "random"), default="sequential")
    group.add_argument("--book-start", type=int, default=1, help="1-based first opening")
    group.add_argument("--book-plies", type=int, help="PGN books: maximum book plies")
    group.add_argument("--seed", type=int, help="seed for --book-order random")
    group.add_argument("--concurrency", type=int, default=1,
                       help="games at once (capped at cores / 2)")
    group.add_argument("--resign", nargs="+", metavar="KEY=VALUE",
                       help="resign adjudication: movecount=3 score=600 twosided=true, or off")
    group.add_argument("--draw", nargs="+", metavar="KEY=VALUE",
                       help="draw adjudication: movenumber=34 movecount=8 score=20, or off")
    group.add_argument("--maxmoves", type=int, default=0, help="draw after N full moves (0: off)")
    group.add_argument("--timemargin", type=int, default=DEFAULT_TIMEMARGIN_MS,
                       help="ms an engine may exceed its clock/movetime (default %(default)s)")
    group.add_argument("--move-timeout", type=float, default=DEFAULT_MOVE_TIMEOUT,
                       help="seconds per move without a clock before the engine counts as "
                            "disconnected (default %(default)s)")
    group.add_argument("--startup-timeout", type=float, default=DEFAULT_STARTUP_TIMEOUT,
                       help="seconds for an engine's UCI handshake (default %(default)s)")
    group.add_argument("--runner", default="auto",
                       help="auto (cutechess-cli/fastchess on PATH, else builtin), builtin, "
                            "or a runner path")
    group.add_argument("--engine-stderr", help="append the engines' stderr to this file")
    group.add_argument("--quiet", action="store_true", help="no live progress line")


def config_from_args(args: argparse.Namespace, engines: tuple[EngineSpec, EngineSpec],
                     games: int, pgnout: Path | None, sprt: SPRT | None,
                     event: str) -> MatchConfig:
    """A :class:`MatchConfig` from parsed common arguments."""
    book = None if args.book.lower() == "none" else Path(args.book)
    return MatchConfig(
        engines=engines, games=games, book=book, book_order=args.book_order,
        book_start=args.book_start, book_plies=args.book_plies, seed=args.seed,
        concurrency=max(1, args.concurrency),
        adjudication=adjudication_from_args(args.resign, args.draw, args.maxmoves),
        timemargin_ms=args.timemargin, move_timeout=args.move_timeout,
        startup_timeout=args.startup_timeout, sprt=sprt, pgnout=pgnout, event=event,
        runner=args.runner, progress=not args.quiet,
        engine_stderr=Path(args.engine_stderr) if args.engine_stderr else None)


def limit_tokens_from_args(args: argparse.Namespace) -> list[str]:
    """``--tc/--nodes/--movetime/--depth`` as spec tokens."""
    tokens = []
    for key in ("tc", "nodes", "movetime", "depth"):
        value = getattr(args, key, None)
        if value is not None:
            tokens.append(f"{key}={value}")
    return tokens


def build_parser() -> argparse.ArgumentParser:
    """The ``engine match`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="engine match", description=__doc__.split("\n\n")[0],
        epilog="Engine spec keys: cmd= args= name= dir= option.NAME= tc= nodes= movetime= "
               "depth= elo= skill=, or the word 'stockfish'. Example: --engine stockfish "
               "elo=1500 --engine \"cmd=engine --net a.pt\" name=a --each nodes=100",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", nargs="+", action="append", required=True,
                        metavar="KEY=VALUE", help="an engine spec (give exactly two)")
    parser.add_argument("--each", nargs="+", default=[], metavar="KEY=VALUE",
                        help="spec tokens applied to both engines")
    parser.add_argument("--games", type=int, default=2,
                        help="games to play, in colour-swapped pairs (default %(default)s)")
    parser.add_argument("--tc", help="time control for both, e.g. 10+0.1 (seconds)")
    parser.add_argument("--nodes", type=int, help="fixed nodes per move for both")
    parser.add_argument("--movetime", type=int, help="fixed ms per move for both")
    parser.add_argument("--depth", type=int, help="fixed depth for both")
    parser.add_argument("--sprt", nargs="+", metavar="KEY=VALUE",
                        help="stop early: elo0=0 elo1=5 [alpha=0.05 beta=0.05 "
                             "model=normalized|logistic]")
    parser.add_argument("--pgnout", help="write the games to this PGN file")
    parser.add_argument("--event", default="engine match", help="PGN Event tag")
    add_common_arguments(parser)
    return parser


def main(argv: list[str]) -> int:
    """Entry point of ``engine match``; 0 on success, 2 on usage or setup errors."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if len(args.engine) != 2:
            raise MatchError(f"give exactly two --engine specs, got {len(args.engine)}")
        each = [*limit_tokens_from_args(args), *args.each]
        engines = (parse_engine_spec(args.engine[0], each), parse_engine_spec(args.engine[1], each))
        sprt = sprt_from_tokens(args.sprt) if args.sprt else None
        config = config_from_args(args, engines, args.games,
                                  Path(args.pgnout) if args.pgnout else None, sprt, args.event)
        result = run_match(config)
    except MatchError as exc:
        print(f"engine match: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    return 0

