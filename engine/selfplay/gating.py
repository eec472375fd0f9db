"""Gating: a new net plays the current best at equal nodes through the match code; it is promoted
only if it scores at least ``min_score`` (or, with an SPRT, only if the SPRT accepts H1).

The same match, against the run's fixed reference net, gives the Elo curve per generation.
"""

from __future__ import annotations

import pathlib
import shlex
import sys
from dataclasses import dataclass
from typing import Any

from engine.arena.config import MatchConfig
from engine.arena.gate import our_engine_spec, with_limit
from engine.arena.match import run_match, sprt_from_tokens
from engine.arena.specs import SearchLimit
from engine.arena.stats import CONTINUE, H1_ACCEPTED
from engine.selfplay.config import GateConfig

ENGINE_CMD = shlex.join([sys.executable, "-m", "engine"])
ENGINE_OPTIONS = ("Threads=1",)


@dataclass
class GateResult:
    """One match of a candidate against an opponent net, from the candidate's side."""

    games: int
    wins: int
    draws: int
    losses: int
    score: float
    elo: float
    elo_error: float
    passed: bool
    sprt: str = ""
    faults: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def describe(self) -> str:
        text = (f"{self.wins}-{self.draws}-{self.losses} ({100 * self.score:.1f}%), "
                f"Elo {self.elo:+.0f} +- {self.elo_error:.0f}")
        return text + (f", SPRT {self.sprt}" if self.sprt else "")


def play(candidate: pathlib.Path, opponent: pathlib.Path, config: GateConfig, games: int,
         pgn: pathlib.Path, names: tuple[str, str], use_sprt: bool, progress: bool = False) -> GateResult:
    """Candidate vs opponent at ``config.nodes`` nodes per move, colour-swapped pairs from the book."""
    limit = SearchLimit(nodes=config.nodes)
    a = with_limit(our_engine_spec(str(candidate), ENGINE_CMD, None, names[0], ENGINE_OPTIONS), limit)
    b = with_limit(our_engine_spec(str(opponent), ENGINE_CMD, None, names[1], ENGINE_OPTIONS), limit)
    sprt = sprt_from_tokens(config.sprt.split()) if (use_sprt and config.sprt) else None
    match = MatchConfig(engines=(a, b), games=games, sprt=sprt, pgnout=pgn, concurrency=config.concurrency,
                        event=f"engine selfplay: {names[0]} vs {names[1]}", progress=progress)
    result = run_match(match)
    estimate = result.estimate()
    faults = sum(result.faults()[a.name].values())
    state = ""
    passed = estimate.score >= config.min_score
    llr = result.llr()
    if sprt is not None and llr is not None:
        state = sprt.state(llr)
        if state != CONTINUE:  # a decided SPRT overrides the score threshold
            passed = state == H1_ACCEPTED
    return GateResult(games=result.played, wins=result.wins, draws=result.draws, losses=result.losses,
                      score=estimate.score, elo=estimate.elo, elo_error=estimate.error,
                      passed=passed and faults == 0 and result.played > 0, sprt=state, faults=faults)
