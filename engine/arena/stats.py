"""Match statistics: Elo, confidence intervals, LOS, pentanomial results and SPRT.

Conventions
-----------
* Results are always counted from the point of view of the *first* engine of a
  match (engine A): a win is a game A won.
* **Logistic Elo** is the classic Elo scale, ``score = 1 / (1 + 10**(-elo/400))``.
  It is what :func:`trinomial_estimate` / :func:`pentanomial_estimate` report as
  ``elo`` (the same number cutechess-cli, fastchess and fishtest print as
  "Elo difference"), and what the gate's acceptance thresholds use.
* **Normalized Elo** (nElo) divides the score excess by its standard deviation,
  ``nelo = (score - 0.5) / sigma * 800 / ln(10)`` with ``sigma`` the per-game
  standard deviation (https://www.cantate.be/Fishtest/normalized_elo_practical.pdf).
  It does not depend on the draw ratio, so SPRT bounds in nElo mean the same
  thing at any time control or opening book; it is fishtest's current default and
  the default model of :class:`SPRT` here.  Logistic SPRT is available too.
* The SPRT is fishtest's GSPRT: the generalized log-likelihood ratio of the
  empirical pentanomial (game-pair) distribution, maximum-likelihood fitted under
  H0 (elo = elo0) and H1 (elo = elo1).  With ``alpha = beta = 0.05`` the bounds are
  ``ln(beta / (1 - alpha)) = -2.94`` and ``ln((1 - beta) / alpha) = 2.94``.

Pentanomial counts are ``[LL, LD, WL+DD, WD, WW]``, i.e. the number of game pairs
(same opening, colours swapped) in which engine A scored 0, 0.5, 1, 1.5 and 2.
Trinomial counts for the LLR functions are ``[L, D, W]`` (fishtest's order);
the public estimate functions take the friendlier ``wins, draws, losses``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

#: Normalized Elo per unit of normalized t-value, 800 / ln(10).
NELO_PER_T = 800.0 / math.log(10.0)
#: Two-sided 95% confidence.
CONFIDENCE = 0.95
#: Replacement for an empty result bucket (fishtest's regularization).
REGULARIZATION = 1e-3
#: Score clamp for turning a score of 0 or 1 into a finite Elo.
SCORE_EPSILON = 1e-3
#: Iterations and tolerance of the t-value maximum-likelihood fixed point.
MLE_ITERATIONS = 50
MLE_TOLERANCE = 1e-12
#: SPRT models.
LOGISTIC = "logistic"
NORMALIZED = "normalized"
ELO_MODELS = (LOGISTIC, NORMALIZED)
#: SPRT states.
H0_ACCEPTED = "H0"
H1_ACCEPTED = "H1"
CONTINUE = "continue"


def format_elo(value: float, sign: bool = True) -> str:
    """An Elo figure for reports: one decimal, ``nan`` where it is undefined.

    Normalized Elo is undefined when every game has the same score (no
    variance); a perfect or zero score has an infinite Elo.

    >>> format_elo(12.34), format_elo(float("inf")), format_elo(float("nan"))
    ('+12.3', 'inf', 'nan')
    """
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:+.1f}" if sign else f"{value:.1f}"


def score_to_elo(score: float) -> float:
    """Logistic Elo difference of an expected score, clamped to ``[1e-3, 1 - 1e-3]``.

    :param score: expected score in ``[0, 1]``.
    :returns: Elo difference (positive when the score is above one half).
    """
    score = min(max(score, SCORE_EPSILON), 1.0 - SCORE_EPSILON)
    return -400.0 * math.log10(1.0 / score - 1.0)


def elo_to_score(elo: float) -> float:
    """Expected score of a logistic Elo difference.

    :param elo: Elo difference.
    :returns: expected score in ``(0, 1)``.
    """
    return 1.0 / (1.0 + 10.0 ** (-elo / 400.0))


@dataclass(frozen=True)
class EloEstimate:
    """Elo estimate of a result set, from engine A's point of view.

    :ivar games: number of games.
    :ivar score: mean score per game.
    :ivar elo: logistic Elo difference.
    :ivar elo_lower: lower bound of the 95% confidence interval (logistic Elo).
    :ivar elo_upper: upper bound of the 95% confidence interval (logistic Elo).
    :ivar error: half width of the interval, ``(upper - lower) / 2`` (the "+/-"
        that cutechess-cli prints).
    :ivar los: likelihood of superiority, ``P(elo > 0)``, in ``[0, 1]``.
    :ivar nelo: normalized Elo.
    :ivar nelo_error: half width of the 95% interval of the normalized Elo.
    :ivar draw_ratio: fraction of drawn games (trinomial) or of pairs with a pair
        score of one (pentanomial: WL+DD pairs).
    """

    games: int
    score: float
    elo: float
    elo_lower: float
    elo_upper: float
    error: float
    los: float
    nelo: float
    nelo_error: float
    draw_ratio: float


def _quantile() -> float:
    """Standard normal quantile of the two-sided confidence level (1.96)."""
    return float(stats.norm.ppf(0.5 + CONFIDENCE / 2.0))


def _estimate(values: np.ndarray, counts: np.ndarray, games_per_sample: int,
              draw_ratio: float) -> EloEstimate:
    """Elo estimate from a discrete per-sample score distribution.

    :param values: score of each outcome, per game (0, 0.5, 1 or 0, .25, .., 1).
    :param counts: observed frequency of each outcome (zeros allowed).
    :param games_per_sample: 1 for single games, 2 for game pairs.
    :param draw_ratio: the draw ratio to report.
    """
    samples = float(counts.sum())
    games = int(round(samples * games_per_sample))
    if samples == 0:
        nan = float("nan")
        return EloEstimate(0, nan, nan, nan, nan, nan, nan, nan, nan, nan)
    probabilities = counts / samples
    mu = float(np.dot(probabilities, values))
    variance = float(np.dot(probabilities, (values - mu) ** 2))  # per sample
    stderr = math.sqrt(variance / samples)
    z = _quantile()
    lower, upper = score_to_elo(mu - z * stderr), score_to_elo(mu + z * stderr)
    if stderr > 0:
        los = float(stats.norm.cdf((mu - 0.5) / stderr))
    else:
        los = 1.0 if mu > 0.5 else 0.0 if mu < 0.5 else 0.5
    # Per-game standard deviation: a pair's mean score has the variance of a
    # game's score divided by two (the two games are treated as independent).
    sigma_game = math.sqrt(variance * games_per_sample)
    if sigma_game > 0:
        nelo = (mu - 0.5) / sigma_game * NELO_PER_T
        nelo_error = z * math.sqrt(1.0 / games) * NELO_PER_T
    else:
        nelo, nelo_error = float("nan"), float("nan")
    return EloEstimate(games=games, score=mu, elo=score_to_elo(mu), elo_lower=lower,
                       elo_upper=upper, error=(upper - lower) / 2.0, los=los, nelo=nelo,
                       nelo_error=nelo_error, draw_ratio=draw_ratio)


def trinomial_estimate(wins: int, draws: int, losses: int) -> EloEstimate:
    """Elo, 95% interval and LOS of independent games (cutechess-cli's numbers).

    The interval is the normal approximation on the mean score mapped through the
    logistic curve, ``elo(mu +- 1.96 * sigma / sqrt(n))``; its half width is the
    "+/-" of cutechess-cli (which uses an approximate normal quantile, so its
    printed margins may differ in the second decimal).  LOS is
    ``Phi((mu - 0.5) / stderr)`` (fishtest's definition).

    :param wins: games won by engine A.
    :param draws: drawn games.
    :param losses: games lost by engine A.
    """
    counts = np.array([losses, draws, wins], dtype=float)
    total = counts.sum()
    draw_ratio = float(draws / total) if total else float("nan")
    return _estimate(np.array([0.0, 0.5, 1.0]), counts, 1, draw_ratio)


def pentanomial_estimate(pentanomial: Sequence[int]) -> EloEstimate:
    """Elo, 95% interval and LOS from game-pair results (fishtest, fastchess).

    Pairs are the independent samples, which removes the opening's bias from the
    variance (with unbalanced books the interval is much narrower than the
    trinomial one).

    :param pentanomial: ``[LL, LD, WL+DD, WD, WW]`` pair counts.
    """
    counts = np.asarray(pentanomial, dtype=float)
    if counts.shape != (5,):
        raise ValueError(f"a pentanomial has 5 counts, got {list(pentanomial)}")
    total = counts.sum()
    draw_ratio = float(counts[2] / total) if total else float("nan")
    return _estimate(np.linspace(0.0, 1.0, 5), counts, 2, draw_ratio)


def los_wins_losses(wins: int, losses: int) -> float:
    """Likelihood of superiority from decisive games only (cutechess-cli's LOS).

    ``LOS = 0.5 + 0.5 * erf((W - L) / sqrt(2 (W + L)))``.

    :param wins: games won by engine A.
    :param losses: games lost by engine A.
    :returns: probability in ``[0, 1]``.
    """
    if wins + losses == 0:
        return 0.5
    return 0.5 + 0.5 * math.erf((wins - losses) / math.sqrt(2.0 * (wins + losses)))


def _empirical_pdf(results: Sequence[float]) -> tuple[float, np.ndarray, np.ndarray]:
    """Sample count, outcome values (per game, in [0, 1]) and regularized frequencies.

    :param results: trinomial ``[L, D, W]`` or pentanomial ``[LL, .., WW]`` counts.
    """
    counts = np.asarray(results, dtype=float)
    if counts.shape not in ((3,), (5,)):
        raise ValueError(f"expected 3 or 5 result counts, got {list(results)}")
    counts = np.where(counts == 0, REGULARIZATION, counts)
    total = float(counts.sum())
    return total, np.linspace(0.0, 1.0, len(counts)), counts / total


def _secular_root(values: np.ndarray, probabilities: np.ndarray) -> float:
    """Root ``x`` of ``sum p_i v_i / (1 + x v_i) = 0`` inside the admissible interval.

    The ``v_i`` must take both signs; then ``1 + x v_i > 0`` for all ``i`` on
    ``(-1 / max v, -1 / min v)`` and the function decreases monotonically there.
    """
    low, high = -1.0 / values.max(), -1.0 / values.min()
    margin = 1e-12 * (high - low)

    def f(x: float) -> float:
        return float(np.sum(probabilities * values / (1.0 + x * values)))

    return float(optimize.brentq(f, low + margin, high - margin, xtol=1e-15, rtol=1e-15))


def _mle_mean(values: np.ndarray, probabilities: np.ndarray, mean: float) -> np.ndarray:
    """Maximum-likelihood distribution on ``values`` with the given expectation.

    Maximizes ``sum p_i log q_i`` subject to ``sum q_i = 1`` and
    ``sum q_i v_i = mean``; the Lagrange conditions give
    ``q_i = p_i / (1 + x (v_i - mean))`` with ``x`` the secular-equation root.
    """
    shifted = values - mean
    x = _secular_root(shifted, probabilities)
    return probabilities / (1.0 + x * shifted)


def _mle_t_value(values: np.ndarray, probabilities: np.ndarray, reference: float,
                 t_value: float) -> np.ndarray:
    """Maximum-likelihood distribution with ``(mean - reference) / sd == t_value``.

    The constraint is not linear in ``q``; linearizing the standard deviation
    around the current iterate turns each step into the mean-constrained problem
    above (the fixed point of fishtest's ``MLE_t_value``).
    """
    q = np.full_like(probabilities, 1.0 / len(probabilities))
    for _ in range(MLE_ITERATIONS):
        mu = float(np.dot(q, values))
        sigma = math.sqrt(float(np.dot(q, (values - mu) ** 2)))
        linear = values - reference - t_value * (sigma ** 2 + (values - mu) ** 2) / (2.0 * sigma)
        x = _secular_root(linear, probabilities)
        q_next = probabilities / (1.0 + x * linear)
        converged = float(np.max(np.abs(q_next - q))) < MLE_TOLERANCE
        q = q_next
        if converged:
            break
    return q


def llr_logistic(elo0: float, elo1: float, results: Sequence[float]) -> float:
    """GSPRT log-likelihood ratio with bounds in logistic Elo.

    H0: expected score ``L(elo0)``; H1: ``L(elo1)``.  Each hypothesis is the
    maximum-likelihood distribution with that expected score; the LLR is
    ``N * sum p_i log(q1_i / q0_i)``.

    :param elo0: H0 bound, logistic Elo.
    :param elo1: H1 bound, logistic Elo.
    :param results: trinomial ``[L, D, W]`` or pentanomial counts.
    """
    samples, values, probabilities = _empirical_pdf(results)
    q0 = _mle_mean(values, probabilities, elo_to_score(elo0))
    q1 = _mle_mean(values, probabilities, elo_to_score(elo1))
    return samples * float(np.dot(probabilities, np.log(q1) - np.log(q0)))


def llr_normalized(nelo0: float, nelo1: float, results: Sequence[float]) -> float:
    """GSPRT log-likelihood ratio with bounds in normalized Elo (fishtest default).

    The hypotheses fix the t-value ``(mu - 1/2) / sigma`` of the sample
    distribution: ``nelo / (800 / ln 10)`` per game, times ``sqrt(2)`` for game
    pairs (the pair score's mean excess doubles while its sd grows by ``sqrt 2``).

    :param nelo0: H0 bound, normalized Elo.
    :param nelo1: H1 bound, normalized Elo.
    :param results: trinomial ``[L, D, W]`` or pentanomial counts.
    """
    samples, values, probabilities = _empirical_pdf(results)
    scale = math.sqrt(2.0) if len(probabilities) == 5 else 1.0
    t0, t1 = (nelo / NELO_PER_T * scale for nelo in (nelo0, nelo1))
    q0 = _mle_t_value(values, probabilities, 0.5, t0)
    q1 = _mle_t_value(values, probabilities, 0.5, t1)
    return samples * float(np.dot(probabilities, np.log(q1) - np.log(q0)))


@dataclass(frozen=True)
class SPRT:
    """Sequential probability ratio test of H0: elo = elo0 against H1: elo = elo1.

    :ivar elo0: H0 bound.
    :ivar elo1: H1 bound.
    :ivar alpha: type I error (accepting H1 when elo = elo0).
    :ivar beta: type II error (accepting H0 when elo = elo1).
    :ivar model: ``"normalized"`` (default, fishtest) or ``"logistic"`` Elo bounds.
    """

    elo0: float
    elo1: float
    alpha: float = 0.05
    beta: float = 0.05
    model: str = NORMALIZED

    def __post_init__(self) -> None:
        if self.model not in ELO_MODELS:
            raise ValueError(f"SPRT model must be one of {ELO_MODELS}, got {self.model!r}")
        if not self.elo0 < self.elo1:
            raise ValueError(f"SPRT needs elo0 < elo1, got {self.elo0} and {self.elo1}")
        if not (0 < self.alpha < 1 and 0 < self.beta < 1):
            raise ValueError("SPRT alpha and beta must lie in (0, 1)")

    @property
    def lower_bound(self) -> float:
        """LLR at which H0 is accepted, ``ln(beta / (1 - alpha))``."""
        return math.log(self.beta / (1.0 - self.alpha))

    @property
    def upper_bound(self) -> float:
        """LLR at which H1 is accepted, ``ln((1 - beta) / alpha)``."""
        return math.log((1.0 - self.beta) / self.alpha)

    def llr(self, results: Sequence[float]) -> float:
        """Log-likelihood ratio of the results (pentanomial or trinomial counts)."""
        if sum(results) == 0:
            return 0.0
        if self.model == LOGISTIC:
            return llr_logistic(self.elo0, self.elo1, results)
        return llr_normalized(self.elo0, self.elo1, results)

    def state(self, llr: float) -> str:
        """``"H1"``, ``"H0"`` or ``"continue"`` for a log-likelihood ratio."""
        if llr >= self.upper_bound:
            return H1_ACCEPTED
        if llr <= self.lower_bound:
            return H0_ACCEPTED
        return CONTINUE

    def describe(self) -> str:
        """One-line description, e.g. ``SPRT normalized [0, 5] alpha=0.05 beta=0.05``."""
        return (f"SPRT {self.model} Elo [{self.elo0:g}, {self.elo1:g}] alpha={self.alpha:g} "
                f"beta={self.beta:g} (LLR bounds {self.lower_bound:.2f}, {self.upper_bound:.2f})")


@dataclass(frozen=True)
class RatingEstimate:
    """Maximum-likelihood rating from games against opponents of known rating.

    :ivar rating: the estimate.
    :ivar lower: lower bound of the 95% likelihood-ratio interval.
    :ivar upper: upper bound of the 95% likelihood-ratio interval.
    :ivar clamped: whether the estimate or a bound hit the search window (a
        perfect or null score makes the likelihood monotone).
    """

    rating: float
    lower: float
    upper: float
    clamped: bool


#: Half width of the window around the opponents' ratings searched by the MLE.
RATING_WINDOW = 1200.0


def rating_mle(opponents: Sequence[float], scores: Sequence[float],
               games: Sequence[int]) -> RatingEstimate:
    """Estimate a player's logistic Elo rating from results against rated opponents.

    Each game's score ``s`` (1, 1/2, 0) contributes ``s log p + (1 - s) log(1 - p)``
    with ``p = L(rating - opponent)``; the log-likelihood is maximized over the
    rating and the 95% interval is where it drops by ``chi2(1, 0.95) / 2 = 1.92``.
    Treating a draw as half a win and half a loss ignores that draws reduce the
    variance, so the interval is slightly conservative.

    :param opponents: the opponents' ratings (e.g. Stockfish ``UCI_Elo`` values).
    :param scores: the player's mean score against each.
    :param games: the number of games against each.
    """
    ratings = np.asarray(opponents, dtype=float)
    points = np.asarray(scores, dtype=float) * np.asarray(games, dtype=float)
    counts = np.asarray(games, dtype=float)
    if counts.sum() == 0:
        raise ValueError("no games to estimate a rating from")
    low, high = ratings.min() - RATING_WINDOW, ratings.max() + RATING_WINDOW

    def log_likelihood(rating: float) -> float:
        p = 1.0 / (1.0 + 10.0 ** ((ratings - rating) / 400.0))
        p = np.clip(p, 1e-300, 1.0 - 1e-16)
        return float(np.sum(points * np.log(p) + (counts - points) * np.log1p(-p)))

    best = optimize.minimize_scalar(lambda r: -log_likelihood(r), bounds=(low, high),
                                    method="bounded", options={"xatol": 1e-6})
    rating = float(best.x)
    peak = log_likelihood(rating)
    drop = float(stats.chi2.ppf(CONFIDENCE, 1)) / 2.0

    def excess(r: float) -> float:
        return log_likelihood(r) - (peak - drop)

    clamped = False
    if excess(low) < 0:
        lower = float(optimize.brentq(excess, low, rating))
    else:
        lower, clamped = low, True
    if excess(high) < 0:
        upper = float(optimize.brentq(excess, rating, high))
    else:
        upper, clamped = high, True
    clamped = clamped or not low + 1.0 < rating < high - 1.0
    return RatingEstimate(rating=rating, lower=lower, upper=upper, clamped=clamped)
