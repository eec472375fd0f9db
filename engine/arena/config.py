"""The match configuration: engines, games, book, adjudication, timeouts, SPRT, outputs."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from engine.arena.adjudication import Adjudication
from engine.arena.book import DEFAULT_BOOK
from engine.arena.process import DEFAULT_STARTUP_TIMEOUT
from engine.arena.specs import EngineSpec
from engine.arena.stats import SPRT

#: Seconds allowed for one move without a clock (fixed nodes or depth).
DEFAULT_MOVE_TIMEOUT = 60.0
#: Milliseconds an engine may overrun its clock or movetime before it forfeits.
DEFAULT_TIMEMARGIN_MS = 50


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
