"""Resign and draw adjudication from the engines' reported scores (fishtest's rules).

As fishtest: a game is resigned when the loser's score is at or below
``-score`` cp for ``movecount`` consecutive moves (``twosided``: and the winner's
at or above ``+score``); drawn when both scores stay within ``score`` cp for
``movecount`` consecutive moves after move ``movenumber``.  Defaults are
fishtest's ``--resign movecount=3 score=600 twosided=true`` and
``--draw movenumber=34 movecount=8 score=20``; ``--resign off``/``--draw off``
disable them; ``--maxmoves N`` declares a draw after N full moves.
"""

from __future__ import annotations

from dataclasses import dataclass

import chess
import chess.engine

#: Centipawn value of a mate score (any large number works for adjudication).
MATE_SCORE_CP = 100_000


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


def score_cp(info: chess.engine.InfoDict) -> int | None:
    """Score of an info dict in centipawns for the side to move (mates are large)."""
    score = info.get("score")
    return None if score is None else score.relative.score(mate_score=MATE_SCORE_CP)
