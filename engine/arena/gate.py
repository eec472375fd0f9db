"""``engine gate``: accept or reject a candidate network with one command.

Two modes:

* **Candidate vs baseline** (``--baseline`` / ``--baseline-cmd``): (1) a match at
  equal nodes (``--nodes``, default 800, unless only ``--tc``/``--movetime`` is
  given), (2) a match at equal time when ``--tc`` or ``--movetime`` is given,
  (3) the tactical suite (WAC, bundled) searched by both at ``--suite-nodes``.
* **Candidate vs Stockfish** (``--opponent stockfish``): one match per
  ``--stockfish-elo`` value (``UCI_LimitStrength``/``UCI_Elo``); with several
  values (a ladder) the candidate's rating is estimated by maximum likelihood
  over all results, with a 95% interval.  ``UCI_Elo`` is calibrated by Stockfish
  at real time controls, so give ``--tc`` (or ``--opponent-limit``) for a
  meaningful rating.

A net file means "our engine with that net": the engine command (``--engine-cmd``,
default ``engine``) plus ``--net FILE`` and ``--precision P`` when given.  Any UCI
engine can stand in through ``--candidate-cmd`` / ``--baseline-cmd``.

Acceptance (all configurable):

* every pairing against the baseline scores at least ``--min-score`` (0.45);
* its Elo, taken at ``--elo-bound`` (``point`` estimate by default, or the
  ``lower``/``upper`` end of the 95% interval), exceeds ``--min-elo`` (-50);
* the candidate has at most ``--max-catastrophic`` (0) catastrophic failures in
  the tactical suite;
* the candidate commits at most ``--max-errors`` (0) faults (time losses,
  illegal moves, crashes, disconnects) over all matches;
* ladder mode: with ``--min-rating R``, the rating estimate (at ``--elo-bound``)
  is at least R.

Catastrophic failure (tactical suite): a position the baseline solves (its move
is a ``bm`` move and no ``am`` move) and the candidate does not, where the
candidate's move throws away at least ``--catastrophic-swing`` (0.25) of expected
score.  The swing is measured by a referee (the baseline engine, or Stockfish with
``--referee stockfish``) that searches the position after the solution move and
after the candidate's move at the suite's node count; each is turned into the
mover's expected score, from the engine's WDL when it reports one, else from
its centipawn score as ``1 / (1 + exp(-0.00368208 cp))`` (lichess's win-rate
curve), mates counting as 1 and 0.  So a missed mate is catastrophic when the
alternative is no longer clearly winning, and a slightly worse but still
winning move is not.  A candidate that gives no move (crash, timeout) on a
position the baseline solves fails catastrophically.

Exit code 0 when every check passes, 1 when one fails, 2 on usage or setup
errors (e.g. an engine that does not start).  The report (``report.md``), plot
(``gate.png``), games (``games.pgn``) and suite details go to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import chess
import chess.engine

from engine import DATA_DIR, game_outcome
from engine.arena.config import MatchConfig
from engine.arena.match import add_common_arguments, config_from_args, run_match
from engine.arena.process import EngineProcess
from engine.arena.records import FAULTS, MatchResult
from engine.arena.specs import EngineSpec, MatchError, SearchLimit, find_stockfish, parse_engine_spec
from engine.arena.stats import RatingEstimate, format_elo, rating_mle

DEFAULT_SUITE = DATA_DIR / "wac.epd"
DEFAULT_NODES = 800
DEFAULT_GAMES = 100
DEFAULT_MIN_SCORE = 0.45
DEFAULT_MIN_ELO = -50.0
DEFAULT_SWING = 0.25
#: lichess's centipawn to win-rate logistic slope.
CP_SLOPE = 0.00368208
ELO_BOUNDS = ("point", "lower", "upper")
EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2


# --------------------------------------------------------------- engine specs


def our_engine_spec(net: str, engine_cmd: str, precision: str | None, name: str | None,
                    options: Sequence[str]) -> EngineSpec:
    """Spec for our engine playing with ``net``: ``ENGINE_CMD --net NET [--precision P]``."""
    command = [*shlex.split(engine_cmd), "--net", net]
    if precision:
        command += ["--precision", precision]
    default_name = Path(net).stem + (f"-{precision}" if precision else "")
    tokens = [f"cmd={shlex.join(command)}", f"name={name or default_name}"]
    return parse_engine_spec([*tokens, *(f"option.{o}" for o in options)])


def raw_engine_spec(command: str, name: str | None, default_name: str,
                    options: Sequence[str]) -> EngineSpec:
    """Spec for an arbitrary UCI command line."""
    tokens = [f"cmd={command}", f"name={name or default_name}"]
    return parse_engine_spec([*tokens, *(f"option.{o}" for o in options)])


def opponent_tokens(opponent: str) -> list[str]:
    """Engine spec tokens of ``--opponent``: ``stockfish``/``lc0`` with their tokens, else a command line.

    >>> opponent_tokens("lc0 net=maia.pb.gz threads=1"), opponent_tokens("./my-engine --fast")
    (['lc0', 'net=maia.pb.gz', 'threads=1'], ['cmd=./my-engine --fast'])
    """
    tokens = shlex.split(opponent)
    return tokens if tokens and tokens[0] in ("stockfish", "lc0") else [f"cmd={opponent}"]


def with_limit(spec: EngineSpec, limit: SearchLimit) -> EngineSpec:
    """``spec`` with its search limit replaced."""
    return EngineSpec(name=spec.name, command=spec.command, options=spec.options, limit=limit,
                      workdir=spec.workdir)


# -------------------------------------------------------------- tactical suite


@dataclass(frozen=True)
class SuitePosition:
    """A test position: ``bm`` (best) and ``am`` (avoid) moves.

    :ivar ident: the EPD ``id``.
    :ivar fen: the position.
    :ivar best: solution moves (UCI).
    :ivar avoid: moves to avoid (UCI).
    """

    ident: str
    fen: str
    best: frozenset[str]
    avoid: frozenset[str]

    def solved_by(self, move: str | None) -> bool:
        """Whether ``move`` (UCI) solves the position."""
        if move is None:
            return False
        return (not self.best or move in self.best) and move not in self.avoid


def load_suite(path: Path, limit: int | None = None) -> list[SuitePosition]:
    """Read an EPD test suite with ``bm``/``am`` operations (SAN or UCI)."""
    positions = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        board = chess.Board()
        try:
            ops = board.set_epd(line)
        except ValueError as exc:
            raise MatchError(f"{path}:{number}: bad EPD: {exc}") from exc
        best = frozenset(m.uci() for m in ops.get("bm", []))  # type: ignore[union-attr]
        avoid = frozenset(m.uci() for m in ops.get("am", []))  # type: ignore[union-attr]
        if not best and not avoid:
            continue
        ident = str(ops.get("id", f"{path.name}:{number}"))
        positions.append(SuitePosition(ident, board.fen(), best, avoid))
        if limit is not None and len(positions) >= limit:
            break
    return positions


@dataclass
class Answer:
    """An engine's answer to a suite position.

    :ivar move: its move (UCI), or ``None`` when it failed.
    :ivar score: its score text (``+1.25``, ``#3``, ``-``).
    :ivar error: what went wrong, if anything.
    """

    move: str | None
    score: str = "-"
    error: str | None = None


def expected_score(info: chess.engine.InfoDict) -> float | None:
    """Expected score for the side to move of a search result (WDL or centipawns)."""
    wdl = info.get("wdl")
    if wdl is not None:
        return wdl.relative.expectation()
    score = info.get("score")
    if score is None:
        return None
    relative = score.relative
    mate = relative.mate()
    if mate is not None:
        return 1.0 if mate > 0 else 0.0
    cp = relative.score()
    assert cp is not None
    return 1.0 / (1.0 + math.exp(-CP_SLOPE * cp))


def _score_text(info: chess.engine.InfoDict) -> str:
    score = info.get("score")
    if score is None:
        return "-"
    relative = score.relative
    mate = relative.mate()
    return f"#{mate}" if mate is not None else f"{(relative.score() or 0) / 100:+.2f}"


async def _answer(engine: EngineProcess, board: chess.Board, limit: chess.engine.Limit,
                  timeout: float) -> tuple[Answer, chess.engine.InfoDict]:
    try:
        played = await engine.search(board, limit, timeout, game=object())
    except asyncio.TimeoutError:
        return Answer(None, error="no answer in time"), {}
    except (chess.engine.EngineError, MatchError) as exc:
        return Answer(None, error=str(exc)), {}
    move = played.move.uci() if played.move is not None else None
    return Answer(move, _score_text(played.info)), played.info


@dataclass
class SuiteRow:
    """One suite position with both answers and, when disputed, the referee's verdict.

    :ivar position: the position.
    :ivar candidate: the candidate's answer.
    :ivar baseline: the baseline's answer (``None`` without a baseline).
    :ivar swing: expected score lost by the candidate's move per the referee.
    :ivar catastrophic: whether this is a catastrophic failure.
    """

    position: SuitePosition
    candidate: Answer
    baseline: Answer | None = None
    swing: float | None = None
    catastrophic: bool = False


async def _referee_value(referee: EngineProcess, board: chess.Board, move: str,
                         limit: chess.engine.Limit, timeout: float) -> float | None:
    """Mover's expected score after ``move``, per the referee's search of the reply."""
    after = board.copy()
    after.push_uci(move)
    outcome = game_outcome(after)
    if outcome is not None:
        return 0.5 if outcome.winner is None else 1.0
    try:
        played = await referee.search(after, limit, timeout, game=object())
    except (asyncio.TimeoutError, chess.engine.EngineError, MatchError):
        return None
    value = expected_score(played.info)
    return None if value is None else 1.0 - value


async def run_suite_async(positions: Sequence[SuitePosition], candidate: EngineSpec,
                          baseline: EngineSpec | None, referee: EngineSpec | None,
                          nodes: int, swing: float, timeout: float,
                          startup_timeout: float) -> list[SuiteRow]:
    """Search every position with the candidate (and baseline); judge disputes."""
    limit = chess.engine.Limit(nodes=nodes)
    engines = {"candidate": EngineProcess(candidate, startup_timeout)}
    if baseline is not None:
        engines["baseline"] = EngineProcess(baseline, startup_timeout)
    if referee is not None:
        engines["referee"] = EngineProcess(referee, startup_timeout)
    try:
        for process in engines.values():
            await process.ensure_started()
        rows = []
        for position in positions:
            board = chess.Board(position.fen)
            cand, _ = await _answer(engines["candidate"], board, limit, timeout)
            row = SuiteRow(position, cand)
            if baseline is not None:
                row.baseline, _ = await _answer(engines["baseline"], board, limit, timeout)
                base_move = row.baseline.move
                if (position.solved_by(base_move) and not position.solved_by(cand.move)
                        and base_move is not None):
                    if cand.move is None:
                        row.swing, row.catastrophic = 1.0, True
                    elif "referee" in engines:
                        ref = engines["referee"]
                        good = await _referee_value(ref, board, base_move, limit, timeout)
                        bad = await _referee_value(ref, board, cand.move, limit, timeout)
                        if good is not None and bad is not None:
                            row.swing = good - bad
                            row.catastrophic = row.swing >= swing
            rows.append(row)
        return rows
    finally:
        for process in engines.values():
            await process.quit()


# ---------------------------------------------------------------------- gate


@dataclass
class Check:
    """One acceptance criterion.

    :ivar name: what is checked.
    :ivar value: the measured value, as text.
    :ivar threshold: the requirement, as text.
    :ivar passed: whether it holds.
    """

    name: str
    value: str
    threshold: str
    passed: bool


@dataclass
class GateOutcome:
    """Everything a gate measured and decided."""

    candidate: str
    pairings: list[tuple[str, MatchResult]] = field(default_factory=list)
    ladder: list[tuple[int, MatchResult]] = field(default_factory=list)
    rating: RatingEstimate | None = None
    suite: list[SuiteRow] = field(default_factory=list)
    suite_nodes: int = 0
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """Whether every check passed."""
        return all(check.passed for check in self.checks)


def elo_at(result: MatchResult, bound: str) -> float:
    """The candidate's (engine A's) Elo at ``point``/``lower``/``upper``."""
    est = result.estimate()
    return {"point": est.elo, "lower": est.elo_lower, "upper": est.elo_upper}[bound]


def evaluate(outcome: GateOutcome, args: argparse.Namespace) -> None:
    """Fill ``outcome.checks`` from the measurements and the thresholds."""
    checks = outcome.checks
    min_score = args.min_score
    min_elo = args.min_elo
    if not outcome.ladder:
        min_score = DEFAULT_MIN_SCORE if min_score is None else min_score
        min_elo = DEFAULT_MIN_ELO if min_elo is None else min_elo
    all_results = [r for _, r in outcome.pairings]
    for label, result in outcome.pairings:
        if not result.played:
            checks.append(Check(f"{label}: games", "0", "> 0", False))
            continue
        est = result.estimate()
        if min_score is not None:
            checks.append(Check(f"{label}: score", f"{100 * est.score:.1f}%",
                                f">= {100 * min_score:.1f}%", est.score >= min_score))
        if min_elo is not None:
            elo = elo_at(result, args.elo_bound)
            checks.append(Check(f"{label}: Elo ({args.elo_bound})", f"{elo:+.1f}",
                                f"> {min_elo:+.1f}", elo > min_elo))
    errors = sum(result.faults()[outcome.candidate][fault]
                 for result in all_results for fault in FAULTS)
    checks.append(Check("candidate faults (time/illegal/crash/disconnect)", str(errors),
                        f"<= {args.max_errors}", errors <= args.max_errors))
    if outcome.suite and any(row.baseline is not None for row in outcome.suite):
        catastrophic = sum(row.catastrophic for row in outcome.suite)
        checks.append(Check("tactical suite: catastrophic failures", str(catastrophic),
                            f"<= {args.max_catastrophic}", catastrophic <= args.max_catastrophic))
    if outcome.rating is not None and args.min_rating is not None:
        rating = outcome.rating
        value = {"point": rating.rating, "lower": rating.lower, "upper": rating.upper}[args.elo_bound]
        checks.append(Check(f"estimated rating ({args.elo_bound})", f"{value:.0f}",
                            f">= {args.min_rating:.0f}", value >= args.min_rating))


def _limits(args: argparse.Namespace) -> list[tuple[str, SearchLimit]]:
    """The pairings' limits: equal nodes and/or equal time."""
    limits = []
    timed = args.tc is not None or args.movetime is not None
    if args.nodes is not None or not timed:
        nodes = args.nodes if args.nodes is not None else DEFAULT_NODES
        limits.append((f"equal nodes ({nodes})", SearchLimit(nodes=nodes)))
    if timed:
        tokens = [f"tc={args.tc}"] if args.tc else []
        tokens += [f"movetime={args.movetime}"] if args.movetime else []
        limit = parse_engine_spec(["cmd=x", *tokens]).limit
        limits.append((f"equal time ({limit.describe()})", limit))
    return limits


def _candidate(args: argparse.Namespace) -> EngineSpec:
    options = [*args.option, *args.candidate_option]
    if args.candidate_cmd:
        return raw_engine_spec(args.candidate_cmd, args.candidate_name, "candidate", options)
    return our_engine_spec(args.candidate, args.engine_cmd, args.candidate_precision,
                           args.candidate_name, options)


def _baseline(args: argparse.Namespace) -> EngineSpec | None:
    options = [*args.option, *args.baseline_option]
    if args.baseline_cmd:
        return raw_engine_spec(args.baseline_cmd, args.baseline_name, "baseline", options)
    if args.baseline:
        return our_engine_spec(args.baseline, args.engine_cmd, args.baseline_precision,
                               args.baseline_name, options)
    return None


def _match(args: argparse.Namespace, a: EngineSpec, b: EngineSpec, games: int, out: Path,
           label: str, index: int) -> MatchResult:
    config: MatchConfig = config_from_args(args, (a, b), games, None, None,
                                           f"engine gate: {label} ({index})")
    print(f"[gate] {label}: {a.name} vs {b.name}, {config.pairs * 2} games, "
          f"{a.limit.describe()} vs {b.limit.describe()}", file=sys.stderr)
    return run_match(config)


def run_gate(args: argparse.Namespace) -> GateOutcome:
    """Play the gate's matches and the suite, then evaluate the acceptance checks."""
    start = time.monotonic()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    candidate = _candidate(args)
    baseline = _baseline(args)
    outcome = GateOutcome(candidate=candidate.name)
    limits = _limits(args)
    index = 0
    if baseline is not None:
        if baseline.name == candidate.name:
            baseline = EngineSpec(f"{baseline.name}-baseline", baseline.command, baseline.options,
                                  baseline.limit, baseline.workdir)
        for label, limit in limits:
            index += 1
            result = _match(args, with_limit(candidate, limit), with_limit(baseline, limit),
                            args.games, out, label, index)
            outcome.pairings.append((f"vs {baseline.name}, {label}", result))
    else:
        label, limit = limits[-1]
        opponent_limit = limit
        if args.opponent_limit:
            opponent_limit = parse_engine_spec(["cmd=x", *shlex.split(args.opponent_limit)]).limit
        elos: list[int | None] = list(args.stockfish_elo) or [None]
        for elo in elos:
            index += 1
            tokens = opponent_tokens(args.opponent)
            if elo is not None:
                tokens.append(f"elo={elo}")
            opponent = with_limit(parse_engine_spec(tokens), opponent_limit)
            result = _match(args, with_limit(candidate, limit), opponent, args.games, out,
                            f"vs {opponent.name}", index)
            outcome.pairings.append((f"vs {opponent.name}, {label}", result))
            if elo is not None:
                outcome.ladder.append((elo, result))
        if outcome.ladder and sum(r.played for _, r in outcome.ladder):
            played = [(elo, r) for elo, r in outcome.ladder if r.played]
            outcome.rating = rating_mle([e for e, _ in played],
                                        [r.trinomial().score for _, r in played],
                                        [r.played for _, r in played])
    if args.suite.lower() != "none":
        positions = load_suite(Path(args.suite), args.suite_limit)
        referee = None
        if baseline is not None:
            referee = baseline if args.referee == "baseline" else parse_engine_spec(["stockfish"])
        outcome.suite_nodes = args.suite_nodes or (args.nodes or DEFAULT_NODES)
        print(f"[gate] tactical suite: {len(positions)} positions at {outcome.suite_nodes} nodes",
              file=sys.stderr)
        outcome.suite = asyncio.run(run_suite_async(
            positions, candidate, baseline, referee, outcome.suite_nodes,
            args.catastrophic_swing, args.move_timeout, args.startup_timeout))
    evaluate(outcome, args)
    outcome.seconds = time.monotonic() - start
    write_outputs(outcome, args, out)
    return outcome


# -------------------------------------------------------------------- report


def _pairing_table(outcome: GateOutcome) -> list[str]:
    lines = ["| pairing | games | W-D-L | score | Elo (95% CI) | LOS | pentanomial | nElo |",
             "|---|---|---|---|---|---|---|---|"]
    for label, r in outcome.pairings:
        if not r.played:
            lines.append(f"| {label} | 0 | - | - | - | - | - | - |")
            continue
        e = r.estimate()
        lines.append(f"| {label} | {r.played} | {r.wins}-{r.draws}-{r.losses} | "
                     f"{100 * e.score:.1f}% | {format_elo(e.elo)} [{format_elo(e.elo_lower)}, "
                     f"{format_elo(e.elo_upper)}] | {100 * e.los:.1f}% | {r.pentanomial()} | "
                     f"{format_elo(e.nelo)} |")
    return lines


def _fault_table(outcome: GateOutcome) -> list[str]:
    lines = ["| pairing | engine | time losses | illegal moves | crashes | disconnects |",
             "|---|---|---|---|---|---|"]
    for label, r in outcome.pairings:
        for name, counts in r.faults().items():
            lines.append(f"| {label} | {name} | " + " | ".join(str(counts[f]) for f in FAULTS) + " |")
    return lines


def _suite_section(outcome: GateOutcome) -> list[str]:
    rows = outcome.suite
    has_baseline = any(row.baseline is not None for row in rows)
    cand_solved = sum(row.position.solved_by(row.candidate.move) for row in rows)
    lines = ["## Tactical suite", "",
             f"{len(rows)} positions, {outcome.suite_nodes} nodes per position.", "",
             "| engine | solved |", "|---|---|",
             f"| {outcome.candidate} (candidate) | {cand_solved}/{len(rows)} |"]
    if not has_baseline:
        return lines
    base_solved = sum(row.position.solved_by(row.baseline.move if row.baseline else None)
                      for row in rows)
    lines.append(f"| baseline | {base_solved}/{len(rows)} |")
    diffs = [row for row in rows if row.baseline is not None
             and row.position.solved_by(row.candidate.move)
             != row.position.solved_by(row.baseline.move)]
    lines += ["", "Positions solved by one engine only (swing: expected score the candidate's "
              "move loses per the referee; catastrophic when >= threshold):", ""]
    if not diffs:
        lines.append("none")
        return lines
    lines += ["| id | solution | candidate | baseline | solved by | swing | catastrophic |",
              "|---|---|---|---|---|---|---|"]
    for row in diffs:
        assert row.baseline is not None
        who = "candidate" if row.position.solved_by(row.candidate.move) else "baseline"
        swing = "-" if row.swing is None else f"{row.swing:.2f}"
        cand = f"{row.candidate.move or row.candidate.error} ({row.candidate.score})"
        base = f"{row.baseline.move or row.baseline.error} ({row.baseline.score})"
        lines.append(f"| {row.position.ident} | {' '.join(sorted(row.position.best)) or '-'} | "
                     f"{cand} | {base} | {who} | {swing} | {'**yes**' if row.catastrophic else 'no'} |")
    return lines


def render_report(outcome: GateOutcome, args: argparse.Namespace) -> str:
    """The markdown report."""
    verdict = "PASS" if outcome.passed else "FAIL"
    lines = [f"# Gate report: {outcome.candidate} — {verdict}", "",
             f"Games per pairing: {args.games}; book: {args.book}; "
             f"run time {outcome.seconds:.0f} s.", "",
             "## Acceptance", "", "| check | value | required | result |", "|---|---|---|---|"]
    lines += [f"| {c.name} | {c.value} | {c.threshold} | {'pass' if c.passed else '**FAIL**'} |"
              for c in outcome.checks]
    lines += ["", "## Matches", "",
              "Scores and Elo are the candidate's (logistic Elo; the interval is the 95% "
              "normal interval on game pairs).", ""]
    lines += _pairing_table(outcome)
    lines += ["", "### Faults", ""] + _fault_table(outcome)
    if outcome.rating is not None:
        r = outcome.rating
        lines += ["", "## Rating estimate (Stockfish ladder)", "",
                  f"Maximum likelihood over {len(outcome.ladder)} opponents: **{r.rating:.0f}** "
                  f"(95% CI {r.lower:.0f} .. {r.upper:.0f})"
                  + (" — clamped: a perfect or null score leaves the rating unbounded." if r.clamped
                     else "."),
                  "", "| Stockfish UCI_Elo | games | score |", "|---|---|---|"]
        lines += [f"| {elo} | {res.played} | {100 * res.trinomial().score:.1f}% |"
                  for elo, res in outcome.ladder]
    if outcome.suite:
        lines += [""] + _suite_section(outcome)
    lines += ["", "Plot: `gate.png`. Games: `games.pgn`.", ""]
    return "\n".join(lines)


def write_plot(outcome: GateOutcome, path: Path, args: argparse.Namespace) -> None:
    """Score and Elo +- 95% CI per pairing (matplotlib, PNG)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    played = [(label, r) for label, r in outcome.pairings if r.played]
    labels = [label for label, _ in played]
    estimates = [r.estimate() for _, r in played]
    fig, (ax_score, ax_elo) = plt.subplots(1, 2, figsize=(11, 0.6 * len(played) + 2.5))
    ys = list(range(len(played)))
    ax_score.barh(ys, [100 * e.score for e in estimates], color="tab:blue")
    ax_score.axvline(50, color="grey", lw=0.8)
    if args.min_score is not None or not outcome.ladder:
        threshold = DEFAULT_MIN_SCORE if args.min_score is None else args.min_score
        ax_score.axvline(100 * threshold, color="tab:red", ls="--", label="min score")
        ax_score.legend(loc="lower right")
    ax_score.set_yticks(ys, labels)
    ax_score.set_xlim(0, 100)
    ax_score.set_xlabel("candidate score (%)")
    elos = [e.elo for e in estimates]
    err = [[e.elo - e.elo_lower for e in estimates], [e.elo_upper - e.elo for e in estimates]]
    ax_elo.errorbar(elos, ys, xerr=err, fmt="o", color="tab:blue", capsize=4)
    ax_elo.axvline(0, color="grey", lw=0.8)
    if args.min_elo is not None or not outcome.ladder:
        threshold = DEFAULT_MIN_ELO if args.min_elo is None else args.min_elo
        ax_elo.axvline(threshold, color="tab:red", ls="--", label="min Elo")
        ax_elo.legend(loc="lower right")
    ax_elo.set_yticks(ys, [""] * len(ys))
    ax_elo.set_xlabel("Elo difference (95% CI)")
    fig.suptitle(f"gate: {outcome.candidate} — {'PASS' if outcome.passed else 'FAIL'}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_outputs(outcome: GateOutcome, args: argparse.Namespace, out: Path) -> None:
    """Write ``report.md``, ``gate.png`` and ``games.pgn`` into ``out``."""
    (out / "games.pgn").write_text("".join(r.pgn_text() for _, r in outcome.pairings))
    (out / "report.md").write_text(render_report(outcome, args))
    if any(r.played for _, r in outcome.pairings):
        write_plot(outcome, out / "gate.png", args)


# ----------------------------------------------------------------------- CLI


def elo_list(text: str) -> list[int]:
    """``--stockfish-elo`` values: comma-separated integers (an argparse type).

    >>> elo_list("1350, 1600,")
    [1350, 1600]
    """
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from exc


def build_parser() -> argparse.ArgumentParser:
    """The ``engine gate`` argument parser."""
    parser = argparse.ArgumentParser(prog="engine gate", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    who = parser.add_argument_group("engines")
    cand = who.add_mutually_exclusive_group(required=True)
    cand.add_argument("--candidate", help="candidate net file (runs ENGINE_CMD --net FILE)")
    cand.add_argument("--candidate-cmd", help="candidate as a raw UCI command line")
    base = who.add_mutually_exclusive_group()
    base.add_argument("--baseline", help="baseline net file")
    base.add_argument("--baseline-cmd", help="baseline as a raw UCI command line")
    base.add_argument("--opponent", help="'stockfish', 'lc0 net=FILE [threads=N backend=B]' (engine spec "
                                         "tokens) or a UCI command line")
    who.add_argument("--engine-cmd", default="engine", help="our engine's command (default engine)")
    who.add_argument("--candidate-precision", help="--precision for the candidate")
    who.add_argument("--baseline-precision", help="--precision for the baseline")
    who.add_argument("--candidate-name", help="display name of the candidate")
    who.add_argument("--baseline-name", help="display name of the baseline")
    who.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                     help="UCI option for candidate and baseline (repeatable)")
    who.add_argument("--candidate-option", action="append", default=[], metavar="NAME=VALUE",
                     help="UCI option for the candidate only (repeatable)")
    who.add_argument("--baseline-option", action="append", default=[], metavar="NAME=VALUE",
                     help="UCI option for the baseline only (repeatable)")
    who.add_argument("--stockfish-elo", type=elo_list, default=[],
                     help="UCI_Elo of the Stockfish opponent(s), e.g. 1350,1600,1800,2000")
    who.add_argument("--opponent-limit", help="search limit tokens for the opponent, "
                                              "e.g. 'movetime=100' (default: the candidate's)")
    play = parser.add_argument_group("games")
    play.add_argument("--games", type=int, default=DEFAULT_GAMES,
                      help="games per pairing (default %(default)s)")
    play.add_argument("--nodes", type=int, help=f"equal-nodes match (default {DEFAULT_NODES})")
    play.add_argument("--tc", help="equal-time match, e.g. 10+0.1")
    play.add_argument("--movetime", type=int, help="equal-time match at fixed ms per move")
    suite = parser.add_argument_group("tactical suite")
    suite.add_argument("--suite", default=str(DEFAULT_SUITE), help="EPD suite ('none' to skip)")
    suite.add_argument("--suite-nodes", type=int, help="nodes per position (default --nodes)")
    suite.add_argument("--suite-limit", type=int, help="use only the first N positions")
    suite.add_argument("--referee", choices=("baseline", "stockfish"), default="baseline",
                       help="engine that measures the swing of a missed solution")
    suite.add_argument("--catastrophic-swing", type=float, default=DEFAULT_SWING,
                       help="expected-score loss that makes a miss catastrophic (%(default)s)")
    accept = parser.add_argument_group("acceptance")
    accept.add_argument("--min-score", type=float,
                        help=f"minimum candidate score per pairing (default {DEFAULT_MIN_SCORE} "
                             "against a baseline, none in ladder mode)")
    accept.add_argument("--min-elo", type=float,
                        help=f"Elo must exceed this (default {DEFAULT_MIN_ELO} against a "
                             "baseline, none in ladder mode)")
    accept.add_argument("--elo-bound", choices=ELO_BOUNDS, default="point",
                        help="which value of the 95%% CI --min-elo/--min-rating test")
    accept.add_argument("--max-catastrophic", type=int, default=0)
    accept.add_argument("--max-errors", type=int, default=0,
                        help="candidate faults allowed (time losses, illegal moves, crashes, "
                             "disconnects)")
    accept.add_argument("--min-rating", type=float, help="ladder: minimum estimated rating")
    parser.add_argument("--out", default=f"runs/gate-{time.strftime('%Y%m%d-%H%M%S')}",
                        help="output directory (report.md, gate.png, games.pgn)")
    add_common_arguments(parser)
    return parser


def main(argv: list[str]) -> int:
    """Entry point of ``engine gate``: 0 pass, 1 fail, 2 usage or setup error."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_PASS if exc.code == 0 else EXIT_ERROR
    if args.baseline is None and args.baseline_cmd is None and args.opponent is None:
        print("engine gate: give --baseline/--baseline-cmd or --opponent", file=sys.stderr)
        return EXIT_ERROR
    if args.stockfish_elo and (args.baseline or args.baseline_cmd):
        print("engine gate: --stockfish-elo needs --opponent stockfish, not a baseline",
              file=sys.stderr)
        return EXIT_ERROR
    if args.stockfish_elo and args.opponent is None:
        args.opponent = "stockfish"
    if args.opponent and opponent_tokens(args.opponent)[0] == "stockfish" and find_stockfish() is None:
        print("engine gate: stockfish not found (apt-get install stockfish)", file=sys.stderr)
        return EXIT_ERROR
    try:
        outcome = run_gate(args)
    except MatchError as exc:
        print(f"engine gate: {exc}", file=sys.stderr)
        return EXIT_ERROR
    for check in outcome.checks:
        print(f"{'PASS' if check.passed else 'FAIL'}  {check.name}: {check.value} "
              f"(required {check.threshold})")
    print(f"gate {'PASSED' if outcome.passed else 'FAILED'}; report: {Path(args.out) / 'report.md'}")
    return EXIT_PASS if outcome.passed else EXIT_FAIL
