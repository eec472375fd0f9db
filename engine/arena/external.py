"""External match runners: the same match played by cutechess-cli or fastchess, read back from their PGN."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from engine.arena.config import MatchConfig
from engine.arena.records import MatchResult, records_from_pgn
from engine.arena.specs import MatchError, SearchLimit

EXTERNAL_RUNNERS = ("cutechess-cli", "fastchess")


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
