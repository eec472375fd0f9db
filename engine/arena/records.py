"""Game records and match results: W-D-L, pentanomial, Elo, faults, the report; read back from PGN.

Faults
------
Every engine interaction has a timeout, so a broken engine costs games, not the
match.  Faults are counted per engine: *time losses* (flag fell, including
``movetime`` overruns beyond ``--timemargin``), *illegal moves* (an illegal or
unparsable ``bestmove``, or none at all), *crashes* (the process exited) and
*disconnects* (no answer within ``--move-timeout`` at fixed nodes/depth, or to
the start-up handshake).  A faulting engine is restarted for the next game.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import chess.pgn

from engine.arena.stats import SPRT, EloEstimate, format_elo, pentanomial_estimate, trinomial_estimate

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
RESULT_POINTS = {"1-0": (1.0, 0.0), "0-1": (0.0, 1.0), "1/2-1/2": (0.5, 0.5)}


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
