"""engine.arena.match: built-in runner (Stockfish and scripted fake engines), PGN, external runners."""

from __future__ import annotations

import io
import json
import logging
import os
import shlex
import sys
import time
from pathlib import Path

import chess
import chess.pgn
import pytest

from engine import DATA_DIR, game_outcome
from engine.arena import book, gate, match, records, specs, stats
from engine.arena.adjudication import Adjudication, Adjudicator
from engine.arena.config import MatchConfig
from engine.arena.match import run_match
from engine.arena.records import records_from_pgn
from engine.arena.specs import EngineSpec, MatchError, SearchLimit, TimeControl, parse_engine_spec

STOCKFISH = specs.find_stockfish()
needs_stockfish = pytest.mark.skipif(
    STOCKFISH is None, reason="stockfish not installed (apt-get install stockfish; "
                              "Debian puts it in /usr/games)")
FAKE_DIR = Path(__file__).resolve().parent / "fake_engines"
FAKE_UCI = FAKE_DIR / "fake_uci.py"


def fake(mode: str, number: int = 0, name: str | None = None, **limit: int) -> EngineSpec:
    """Spec of the scripted fake engine."""
    spec = parse_engine_spec([f"cmd={shlex.join([sys.executable, str(FAKE_UCI), mode, str(number)])}",
                              f"name={name or mode}"])
    return EngineSpec(spec.name, spec.command, spec.options, SearchLimit(**limit))


def config(a: EngineSpec, b: EngineSpec, games: int = 2, **kwargs: object) -> MatchConfig:
    defaults: dict[str, object] = {"move_timeout": 2.0, "startup_timeout": 5.0}
    defaults.update(kwargs)
    return MatchConfig(engines=(a, b), games=games, runner="builtin", **defaults)  # type: ignore[arg-type]


# ------------------------------------------------------------------------ specs


def test_time_control_parse() -> None:
    assert TimeControl.parse("10+0.1") == TimeControl(10.0, 0.1)
    assert TimeControl.parse("40/60+0.6") == TimeControl(60.0, 0.6, 40)
    assert TimeControl.parse("1:30") == TimeControl(90.0)
    assert str(TimeControl.parse("10+0.1")) == "10+0.1"
    assert str(TimeControl.parse("40/60")) == "40/60"
    with pytest.raises(MatchError):
        TimeControl.parse("fast")


def test_engine_spec_tokens() -> None:
    spec = parse_engine_spec(["cmd=engine --net a.pt", "name=fp32", "option.Precision=fp32",
                              "option.Skill Level=3", "nodes=800"], each=["tc=10+0.1", "nodes=5"])
    assert spec.command == ("engine", "--net", "a.pt")
    assert spec.name == "fp32"
    assert spec.option_dict() == {"Precision": "fp32", "Skill Level": "3"}
    assert spec.limit == SearchLimit(tc=TimeControl(10.0, 0.1), nodes=800)
    with pytest.raises(MatchError):
        parse_engine_spec(["name=x"])
    with pytest.raises(MatchError):
        parse_engine_spec(["cmd=x", "bogus=1"])


@needs_stockfish
def test_stockfish_shorthand() -> None:
    spec = parse_engine_spec(["stockfish", "elo=1500"])
    assert spec.command == (STOCKFISH,)
    assert spec.name == "stockfish1500"
    assert spec.option_dict() == {"Threads": "1", "Hash": "16", "UCI_LimitStrength": "true",
                                  "UCI_Elo": "1500"}
    assert parse_engine_spec(["stockfish", "skill=3"]).option_dict()["Skill Level"] == "3"
    with pytest.raises(MatchError):
        parse_engine_spec(["stockfish", "elo=1000"])


def test_openings_epd_and_pgn() -> None:
    epd = book.load_openings(book.DEFAULT_BOOK, 3)
    assert len(epd) == 3 and all(not o.moves for o in epd)
    assert epd[0].board().fullmove_number == 9  # UHO lines carry move counters
    pgn = book.load_openings(DATA_DIR / "8moves_v3_200.pgn", 2, plies=6)
    assert pgn[0].fen == chess.STARTING_FEN and len(pgn[0].moves) == 6
    shuffled = book.load_openings(book.DEFAULT_BOOK, 5, order="random", seed=1)
    assert shuffled == book.load_openings(book.DEFAULT_BOOK, 5, order="random", seed=1)


def test_adjudicator_resign_and_draw() -> None:
    board = chess.Board()
    resign = Adjudicator(Adjudication(resign_movecount=2, resign_score=500))
    verdicts = [resign.update(colour, score, board) for colour, score in
                [(chess.WHITE, -600), (chess.BLACK, 600), (chess.WHITE, -700), (chess.BLACK, 550)]]
    assert verdicts[:3] == [None, None, None]
    assert verdicts[3] == ("0-1", "Black wins by adjudication")
    board = chess.Board("8/8/8/4k3/8/8/8/4K2R w K - 0 60")
    draw = Adjudicator(Adjudication(draw_movenumber=0, draw_movecount=1, draw_score=10))
    assert draw.update(chess.WHITE, 5, board) is None
    assert draw.update(chess.BLACK, -3, board) == ("1/2-1/2", "Draw by adjudication")


# ------------------------------------------------------------ built-in runner


@needs_stockfish
def test_builtin_stockfish_games_and_pgn(tmp_path: Path) -> None:
    weak = parse_engine_spec(["stockfish", "skill=0", "nodes=20"])
    strong = parse_engine_spec(["stockfish", "name=sf-full", "nodes=100"])
    pgn = tmp_path / "games.pgn"
    result = run_match(config(weak, strong, games=4, pgnout=pgn))
    assert result.played == 4
    assert result.wins + result.draws + result.losses == 4
    assert sum(result.pentanomial()) == 2
    assert not any(any(c.values()) for c in result.faults().values())
    text = pgn.read_text()
    handle = io.StringIO(text)
    games = []
    while (game := chess.pgn.read_game(handle)) is not None:
        games.append(game)
    assert len(games) == 4
    for game in games:
        assert not game.errors
        assert {game.headers["White"], game.headers["Black"]} == {"stockfish-skill0", "sf-full"}
        assert game.headers["Result"] in ("1-0", "0-1", "1/2-1/2")
        assert game.headers["Termination"] in ("normal", "adjudication")
        assert game.headers["SetUp"] == "1"
        board = game.end().board()  # the moves replay legally from the FEN
        assert board.ply() >= 1
    assert games[0].headers["FEN"] == games[1].headers["FEN"]  # colour-swapped pair
    assert games[0].headers["White"] == games[1].headers["Black"]
    # the statistics are the same when recomputed from the PGN
    parsed = records.MatchResult(result.a, result.b, records_from_pgn(text))
    assert (parsed.wins, parsed.draws, parsed.losses) == (result.wins, result.draws, result.losses)
    assert parsed.pentanomial() == result.pentanomial()
    assert "Score of stockfish-skill0 vs sf-full" in result.summary()


@needs_stockfish
def test_time_control_game_has_tag() -> None:
    a = parse_engine_spec(["stockfish", "tc=1+0.05"])
    b = parse_engine_spec(["stockfish", "name=sf2", "tc=1+0.05"])
    result = run_match(config(a, b, games=2, adjudication=Adjudication(maxmoves=10)))
    assert result.played == 2
    game = chess.pgn.read_game(io.StringIO(result.games[0].pgn))
    assert game is not None and game.headers["TimeControl"] == "1+0.05"
    assert all(g.termination in ("normal", "adjudication") for g in result.games)
    assert all(g.fault is None for g in result.games)


@pytest.mark.parametrize(("mode", "fault", "termination"), [
    ("crash", records.CRASH, "abandoned"),
    ("illegal", records.ILLEGAL_MOVE, "illegal move"),
    ("nomove", records.ILLEGAL_MOVE, "illegal move"),
    ("hang", records.DISCONNECT, "stalled connection"),
])
def test_faulty_engine_is_caught(mode: str, fault: str, termination: str) -> None:
    bad = fake(mode, 2, name="bad", nodes=1)
    good = fake("random", 7, name="good", nodes=1)
    start = time.monotonic()
    result = run_match(config(bad, good, games=2, move_timeout=1.0))
    assert time.monotonic() - start < 20
    assert result.played == 2
    assert result.faults()["bad"][fault] == 2
    assert result.faults()["good"] == dict.fromkeys(records.FAULTS, 0)
    assert result.losses == 2
    assert {g.termination for g in result.games} == {termination}
    parsed = records_from_pgn(result.pgn_text())
    assert [(g.fault, g.culprit) for g in parsed] == [(fault, "bad")] * 2


def test_info_strings_are_not_reported_as_unexpected_output(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="chess.engine"):
        result = run_match(config(fake("chatty", 3, nodes=1), fake("random", 4, nodes=1)))
    assert result.played == 2
    warned = [record.getMessage() for record in caplog.records]
    assert any("stray output" in message for message in warned)
    assert not any("info string" in message for message in warned)


def test_engine_that_cannot_restart_loses_remaining_games(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    once = parse_engine_spec([f"cmd={shlex.join([sys.executable, str(FAKE_UCI), 'once', '2', str(marker)])}",
                              "name=once", "nodes=1"])
    result = run_match(config(once, fake("random", nodes=1, name="good"), games=4))
    assert result.played == 4 and result.losses == 4
    assert result.faults()["once"][records.CRASH] == 4
    assert [g.number for g in result.games] == [1, 2, 3, 4]
    assert [g.pair for g in result.games] == [1, 1, 2, 2]


def test_time_forfeit_with_clock() -> None:
    slow = fake("hang", 1, name="slow", tc=TimeControl(0.3))
    good = fake("random", 1, name="good", tc=TimeControl(0.3))
    result = run_match(config(slow, good, games=2))
    assert result.faults()["slow"][records.TIME_LOSS] == 2
    assert all(g.termination == "time forfeit" for g in result.games)
    assert all("loses on time" in g.reason for g in result.games)


def test_engine_that_never_starts_is_an_error() -> None:
    with pytest.raises(MatchError, match="failed to start"):
        run_match(config(fake("nostart", name="mute", nodes=1), fake("random", nodes=1),
                         startup_timeout=1.0))
    with pytest.raises(MatchError, match="failed to start"):
        run_match(config(parse_engine_spec(["cmd=/nonexistent/engine", "nodes=1"]),
                         fake("random", nodes=1)))


def test_match_cli_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    a = f"cmd={sys.executable} {FAKE_UCI} random 1"
    b = f"cmd={sys.executable} {FAKE_UCI} random 2"
    assert match.main(["--engine", a, "name=r1", "--engine", b, "name=r2", "--nodes", "1",
                       "--games", "2", "--runner", "builtin", "--quiet", "--maxmoves", "20",
                       "--sprt", "elo0=0", "elo1=10"]) == 0
    out = capsys.readouterr().out
    assert "Score of r1 vs r2" in out and "SPRT normalized" in out
    assert match.main(["--engine", a, "--engine", b, "--runner", "builtin", "--quiet"]) == 2
    assert match.main(["--engine", a, "--engine", b, "bogus=1", "--nodes", "1"]) == 2


# ------------------------------------------------------------- external runner


@pytest.mark.parametrize("runner_name", ["cutechess-cli", "fastchess"])
def test_external_runner_command_and_pgn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         runner_name: str) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / runner_name
    script.write_text(f"#!{sys.executable}\n" + (FAKE_DIR / "fake_runner.py").read_text())
    script.chmod(0o755)
    log = tmp_path / "argv.json"
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_RUNNER_LOG", str(log))
    a = parse_engine_spec(["cmd=engine --net a.pt", "name=A", "option.Precision=int8",
                           "nodes=800"])
    b = parse_engine_spec(["cmd=engine --net b.pt", "name=B", "tc=10+0.1"])
    pgn = tmp_path / "out.pgn"
    cfg = MatchConfig(engines=(a, b), games=4, runner="auto", pgnout=pgn,
                      sprt=stats.SPRT(0, 5))
    result = run_match(cfg)
    argv = json.loads(log.read_text())
    assert Path(argv[0]).name == runner_name
    assert result.runner == runner_name.split("-")[0]
    joined = " ".join(argv)
    assert "cmd=engine" in argv and "name=A" in argv and "option.Precision=int8" in argv
    assert "nodes=800" in argv and "tc=10+0.1" in argv
    assert f"file={book.DEFAULT_BOOK}" in argv and "format=epd" in argv
    assert "-repeat" in argv and argv[argv.index("-rounds") + 1] == "2"
    assert "movecount=3" in argv and "movenumber=34" in argv and "elo1=5" in argv
    if runner_name == "fastchess":
        assert "args=--net a.pt" in argv and "model=normalized" in argv
        assert any(tok.startswith("file=") and tok.endswith("games.pgn") for tok in argv)
    else:
        assert "arg=--net" in argv and "arg=a.pt" in argv and "proto=uci" in argv
        assert "tc=inf" in joined
    # parsed results: A wins, draws, loses on time, wins by B's illegal move
    assert (result.wins, result.draws, result.losses) == (2, 1, 1)
    assert result.pentanomial() == [0, 0, 1, 1, 0]
    assert result.faults()["A"][records.TIME_LOSS] == 1
    assert result.faults()["B"][records.ILLEGAL_MOVE] == 1
    assert pgn.read_text().count("[Event ") == 4


def test_option_keys_and_the_lc0_shorthand() -> None:
    spec = parse_engine_spec(["cmd=engine", "net=nets/default.pt", "threads=1", "backend=onednn"])
    assert spec.option_dict() == {"WeightsFile": "nets/default.pt", "Threads": "1", "Backend": "onednn"}
    tokens = ["lc0", "net=/nets/maia-1900.pb.gz", "threads=1", "nodes=200"]
    if specs.find_lc0() is None:
        with pytest.raises(MatchError, match="lc0 not found"):
            parse_engine_spec(tokens)
    else:
        lc0 = parse_engine_spec(tokens)
        assert lc0.name == "lc0-maia-1900" and lc0.limit.nodes == 200
        assert lc0.option_dict() == {"WeightsFile": "/nets/maia-1900.pb.gz", "Threads": "1"}
    assert gate.opponent_tokens("lc0 net=a.pb.gz") == ["lc0", "net=a.pb.gz"]
    assert gate.opponent_tokens("stockfish") == ["stockfish"]
    assert gate.opponent_tokens("/opt/my engine --x") == ["cmd=/opt/my engine --x"]


def test_games_end_on_a_threefold_that_happened_not_on_one_that_could() -> None:
    # python-chess's claim_draw also ends the game when the side to move could repeat a position
    # a third time; GUIs (and our runner) wait until it is on the board.
    board = chess.Board()
    for move in ("g1f3", "g8f6", "f3g1", "f6g8", "g1f3", "g8f6", "f3g1"):
        board.push_uci(move)
    assert board.outcome(claim_draw=True) is not None and game_outcome(board) is None
    board.push_uci("f6g8")
    assert game_outcome(board).termination == chess.Termination.THREEFOLD_REPETITION
    fifty = chess.Board("8/8/4k3/8/8/4K3/4R3/8 w - - 99 80")
    assert game_outcome(fifty) is None
    fifty.push_uci("e2d2")
    assert game_outcome(fifty).termination == chess.Termination.FIFTY_MOVES
    mate = chess.Board("k7/8/1K6/8/8/8/8/7R w - - 99 80")
    mate.push_uci("h1h8")
    assert game_outcome(mate).winner == chess.WHITE
