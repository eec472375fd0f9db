"""Time management: how long to think, from the UCI ``go`` clock parameters.

``soft`` is the target: search stops there (earlier when the best move cannot
change). ``hard`` is never exceeded: it leaves ``Move Overhead`` on the clock
and never spends more than a fifth of the remaining time on one move.

``Slow Mover`` (percent, as in Stockfish) scales the target, and with it the
hard limit of three targets, which still never passes a fifth of the clock.
Smart pruning ends most searches well before the target: at 10+0.1 and 100%
the engine ended its
games (36 moves on average from the UHO book) with 44% of its clock unspent,
and 200% scored +52 Elo against 100% in 40 games (``nets/README.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MOVES_TO_GO = 30
"""Moves assumed left in sudden-death games."""
MAX_SHARE_OF_CLOCK = 0.2
INCREMENT_SHARE = 0.75


@dataclass(frozen=True)
class Budget:
    soft_ms: float
    hard_ms: float


def budget(*, time_ms: int | None, increment_ms: int = 0, moves_to_go: int | None = None,
           move_time_ms: int | None = None, overhead_ms: int = 100,
           slow_mover_percent: int = 100) -> Budget | None:
    """Think-time for one move, or None when the clock sets no limit.

    >>> budget(time_ms=60_000, increment_ms=1_000, overhead_ms=100)
    Budget(soft_ms=2746.666666666667, hard_ms=8240.0)
    >>> budget(time_ms=60_000, increment_ms=1_000, overhead_ms=100, slow_mover_percent=200)
    Budget(soft_ms=5493.333333333334, hard_ms=11980.0)
    >>> budget(time_ms=50, overhead_ms=100)
    Budget(soft_ms=0.0, hard_ms=0.0)
    """
    if move_time_ms is not None:
        limit = max(float(move_time_ms - overhead_ms), 0.0)
        return Budget(limit, limit)
    if time_ms is None:
        return None
    available = max(float(time_ms - overhead_ms), 0.0)
    moves = max(moves_to_go or DEFAULT_MOVES_TO_GO, 1)
    soft = (available / moves + INCREMENT_SHARE * max(increment_ms, 0)) * slow_mover_percent / 100
    hard = min(available * MAX_SHARE_OF_CLOCK if moves > 1 else available * 0.9, 3 * soft)
    hard = min(hard, available)
    return Budget(min(soft, hard), hard)
