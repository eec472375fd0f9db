"""``engine match``: play two UCI engines against each other and report statistics.

The parts live beside this module, one idea each: engine specs and time controls
(:mod:`engine.arena.specs`, the ``--engine`` tokens), opening books (:mod:`~engine.arena.book`),
the engine process (:mod:`~engine.arena.process`), adjudication (:mod:`~engine.arena.adjudication`),
game records, faults and the report (:mod:`~engine.arena.records`), the built-in runner
(:mod:`~engine.arena.builtin`) and cutechess-cli/fastchess (:mod:`~engine.arena.external`). This
module is the command: it resolves the runner, shows progress and writes the PGN.

Runners
-------
``--runner auto`` (default) uses ``cutechess-cli`` or ``fastchess`` when one is on
PATH and otherwise the built-in runner on python-chess's asyncio
``chess.engine``; ``--runner builtin`` forces the latter and ``--runner PATH``
names an external runner.  All runners write the same PGN tags and the
statistics are computed from the same game records (parsed back from the PGN
for external runners).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from engine.arena.adjudication import Adjudication
from engine.arena.book import DEFAULT_BOOK
from engine.arena.builtin import BuiltinRunner
from engine.arena.config import DEFAULT_MOVE_TIMEOUT, DEFAULT_TIMEMARGIN_MS, MatchConfig, max_concurrency
from engine.arena.external import detect_runner, run_external
from engine.arena.process import DEFAULT_STARTUP_TIMEOUT
from engine.arena.records import MatchResult
from engine.arena.specs import EngineSpec, MatchError, parse_engine_spec
from engine.arena.stats import SPRT


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


def run_match(config: MatchConfig, on_game: Callable[[MatchResult], None] | None = None) -> MatchResult:
    """Play a match with the configured runner, write the PGN, return the results.

    :param on_game: also called with the partial result after every game (e.g. an outer progress bar).
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

    def after_game(result: MatchResult) -> None:
        progress(result)
        if on_game is not None:
            on_game(result)

    try:
        if runner == "builtin":
            result = BuiltinRunner(config, after_game).run()
        else:
            result = run_external(runner, config, after_game)
    finally:
        progress.close()
    if config.pgnout is not None:
        config.pgnout.parent.mkdir(parents=True, exist_ok=True)
        config.pgnout.write_text(result.pgn_text())
    return result


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
