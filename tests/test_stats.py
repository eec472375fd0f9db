"""engine.arena.stats against published reference values.

References:
* fastchess ``tests/elo_test.cpp``: Elo and error margin printed for W/L/D counts
  (the cutechess-cli formula; tolerance 1% relative as in fastchess, whose and
  cutechess's approximate normal quantile shifts the margin in the 2nd decimal).
* fastchess ``tests/sprt_test.cpp``: LLR values that match fishtest's
  ``LLRcalc.LLR_logistic`` / ``LLR_normalized`` for trinomial and pentanomial counts.
* Hand computations, shown inline.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.arena import stats

# (wins, losses, draws) -> (elo, error margin), fastchess tests/elo_test.cpp
ELO_REFERENCES = [
    ((0, 36, 14), (-315.34, 95.43)),
    ((859, 772, 1329), (10.21, 9.28)),
    ((1164, 1267, 3049), (-6.53, 6.12)),
]

# trinomial (wins, losses, draws), elo0, elo1, model -> LLR, fastchess tests/sprt_test.cpp
TRINOMIAL_LLR = [
    ((36433, 36027, 68692), 0.0, 2.0, "normalized", 0.92),
    ((10871, 10650, 20431), -1.75, 0.25, "normalized", 2.30),
    ((21404, 21184, 40708), 0.5, 2.5, "logistic", -1.57),
    ((57433, 57030, 106593), 0.0, 2.0, "logistic", -2.59),
]

# pentanomial [LL, LD, WL+DD, WD, WW] (fastchess lists LL, LD, WL, DD, WD, WW)
PENTANOMIAL_LLR = [
    ([365, 16618, 36029 + 200, 16974, 390], 0.0, 2.0, "normalized", 2.25),
    ([127, 4883, 10311 + 401, 5150, 104], -1.75, 0.25, "normalized", 3.01),
    ([223, 9863, 20279 + 1000, 10037, 246], 0.5, 2.5, "logistic", -3.07),
    ([871, 26175, 55003 + 980, 26678, 821], 0.0, 2.0, "logistic", -4.98),
]


@pytest.mark.parametrize(("wld", "expected"), ELO_REFERENCES)
def test_trinomial_elo_matches_fastchess(wld: tuple[int, int, int],
                                         expected: tuple[float, float]) -> None:
    wins, losses, draws = wld
    est = stats.trinomial_estimate(wins, draws, losses)
    assert est.elo == pytest.approx(expected[0], abs=0.01)
    assert est.error == pytest.approx(expected[1], rel=0.01)
    assert est.elo_lower < est.elo < est.elo_upper
    assert est.games == wins + losses + draws


def test_trinomial_by_hand() -> None:
    # 6 wins, 2 draws, 2 losses: mu = 0.7, per-game variance
    # 0.6*0.09 + 0.2*0.04 + 0.2*0.49 = 0.16, stderr = 0.4/sqrt(10).
    est = stats.trinomial_estimate(6, 2, 2)
    assert est.score == pytest.approx(0.7)
    assert est.elo == pytest.approx(-400 * math.log10(1 / 0.7 - 1))  # 147.19
    stderr = 0.4 / math.sqrt(10)
    z = 1.959963984540054
    assert est.elo_lower == pytest.approx(stats.score_to_elo(0.7 - z * stderr))
    assert est.elo_upper == pytest.approx(stats.score_to_elo(0.7 + z * stderr))
    # LOS = Phi(0.2 / stderr) = Phi(1.5811) = 0.94308
    assert est.los == pytest.approx(0.943077, abs=1e-6)
    assert est.draw_ratio == pytest.approx(0.2)
    # nElo = 0.2 / 0.4 * 800 / ln 10 = 173.72
    assert est.nelo == pytest.approx(0.5 * 800 / math.log(10))


def test_los_wins_losses_cutechess() -> None:
    # 0.5 + 0.5 erf(10 / sqrt(2 * 100)) = 0.5 + 0.5 erf(0.70711) = 0.84134 = Phi(1)
    assert stats.los_wins_losses(55, 45) == pytest.approx(0.841345, abs=1e-6)
    assert stats.los_wins_losses(0, 0) == 0.5


def test_pentanomial_by_hand() -> None:
    # pairs: 1 LL, 2 LD, 4 WL/DD, 2 WD, 1 WW -> symmetric, mu = 0.5
    est = stats.pentanomial_estimate([1, 2, 4, 2, 1])
    assert est.score == pytest.approx(0.5)
    assert est.elo == pytest.approx(0.0, abs=1e-9)
    assert est.los == pytest.approx(0.5)
    assert est.games == 20
    # pair-mean variance: (2*0.25 + 4*0.0625) / 10 = 0.075, stderr = sqrt(0.0075)
    stderr = math.sqrt(0.075 / 10)
    assert est.elo_upper == pytest.approx(stats.score_to_elo(0.5 + 1.959963984540054 * stderr))
    assert est.elo_lower == pytest.approx(-est.elo_upper)
    # per-game sigma = sqrt(2 * 0.075); nElo 0 here
    assert est.nelo == pytest.approx(0.0, abs=1e-9)


def test_pentanomial_narrower_than_trinomial_for_correlated_pairs() -> None:
    # every pair split 1-1 (each side wins with the good colour): no information
    # beyond "equal", so the pentanomial interval is tiny, the trinomial one wide.
    penta = stats.pentanomial_estimate([0, 1, 98, 1, 0])
    tri = stats.trinomial_estimate(99, 2, 99)
    assert penta.error < tri.error / 5


@pytest.mark.parametrize(("wld", "elo0", "elo1", "model", "expected"), TRINOMIAL_LLR)
def test_trinomial_llr_matches_fishtest(wld: tuple[int, int, int], elo0: float, elo1: float,
                                        model: str, expected: float) -> None:
    wins, losses, draws = wld
    sprt = stats.SPRT(elo0, elo1, model=model)
    assert sprt.llr([losses, draws, wins]) == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize(("penta", "elo0", "elo1", "model", "expected"), PENTANOMIAL_LLR)
def test_pentanomial_llr_matches_fishtest(penta: list[int], elo0: float, elo1: float,
                                          model: str, expected: float) -> None:
    sprt = stats.SPRT(elo0, elo1, model=model)
    assert sprt.llr(penta) == pytest.approx(expected, abs=0.01)


def test_logistic_llr_binomial_by_hand() -> None:
    # Without draws the MLE under H_i is the Bernoulli(p_i) law itself, so the
    # LLR is the classical W log(p1/p0) + L log((1-p1)/(1-p0)).
    wins, losses = 60, 40
    p0, p1 = stats.elo_to_score(0.0), stats.elo_to_score(50.0)
    expected = wins * math.log(p1 / p0) + losses * math.log((1 - p1) / (1 - p0))
    # a zero draw count is regularized to 1e-3 (fishtest), hence the tolerance
    assert stats.llr_logistic(0.0, 50.0, [losses, 0, wins]) == pytest.approx(expected, abs=2e-3)


def test_normalized_mle_meets_constraint() -> None:
    values = np.linspace(0, 1, 5)
    p = np.array([0.1, 0.2, 0.4, 0.2, 0.1])
    q = stats._mle_t_value(values, p, 0.5, 0.1)
    mu = float(np.dot(q, values))
    sd = math.sqrt(float(np.dot(q, (values - mu) ** 2)))
    assert q.sum() == pytest.approx(1.0)
    assert (mu - 0.5) / sd == pytest.approx(0.1, abs=1e-9)


def test_sprt_bounds_and_states() -> None:
    sprt = stats.SPRT(0.0, 5.0)
    assert sprt.model == "normalized"
    assert sprt.lower_bound == pytest.approx(math.log(0.05 / 0.95))  # -2.944
    assert sprt.upper_bound == pytest.approx(math.log(0.95 / 0.05))  # +2.944
    assert sprt.state(3.0) == stats.H1_ACCEPTED
    assert sprt.state(-3.0) == stats.H0_ACCEPTED
    assert sprt.state(0.0) == stats.CONTINUE
    assert sprt.llr([0, 0, 0, 0, 0]) == 0.0
    with pytest.raises(ValueError):
        stats.SPRT(5.0, 0.0)
    with pytest.raises(ValueError):
        stats.SPRT(0.0, 5.0, model="bayes")


def test_score_elo_round_trip() -> None:
    for elo in (-600.0, -35.5, 0.0, 120.0):
        assert stats.score_to_elo(stats.elo_to_score(elo)) == pytest.approx(elo)
    assert stats.score_to_elo(1.0) == pytest.approx(stats.score_to_elo(0.999))


def test_rating_mle_symmetric_ladder() -> None:
    # 50% against 1500 and 1700 pulls the estimate to 1600 exactly (symmetry).
    est = stats.rating_mle([1500, 1700], [0.5, 0.5], [20, 20])
    assert est.rating == pytest.approx(1600.0, abs=0.01)
    assert est.lower < 1600 < est.upper
    assert est.upper - 1600 == pytest.approx(1600 - est.lower, rel=1e-3)
    assert not est.clamped


def test_rating_mle_single_opponent_is_performance_rating() -> None:
    # one opponent: the MLE is the opponent's rating plus elo(score)
    est = stats.rating_mle([1500], [0.75], [40])
    assert est.rating == pytest.approx(1500 + stats.score_to_elo(0.75), abs=0.01)  # 1690.85


def test_rating_mle_perfect_score_is_clamped() -> None:
    est = stats.rating_mle([1350, 1600], [1.0, 1.0], [4, 4])
    assert est.clamped


def test_format_elo_marks_undefined_and_infinite_figures() -> None:
    # All draws: no variance, so normalized Elo is undefined, not "+nan".
    estimate = stats.trinomial_estimate(0, 10, 0)
    assert stats.format_elo(estimate.nelo) == "nan"
    assert stats.format_elo(-math.inf) == "-inf"
    assert stats.format_elo(-3.06) == "-3.1"
    assert stats.format_elo(3.06, sign=False) == "3.1"
