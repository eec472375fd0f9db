"""The built-in match runner: games played through python-chess's asyncio engine API, with clocks."""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import chess
import chess.engine
import chess.pgn

from engine import game_outcome
from engine.arena.adjudication import Adjudicator, score_cp
from engine.arena.book import Opening, load_openings
from engine.arena.config import MatchConfig
from engine.arena.process import EngineProcess
from engine.arena.records import (CRASH, DISCONNECT, ILLEGAL_MOVE, TERM_ADJUDICATION, TERM_CRASH, TERM_ILLEGAL,
                                  TERM_NORMAL, TERM_STALL, TERM_TIME, TIME_LOSS, GameRecord, MatchResult)
from engine.arena.specs import EngineSpec, MatchError
from engine.arena.stats import CONTINUE

#: Extra seconds beyond clock + margin before a silent engine is killed.
FLAG_GRACE = 1.0
OUTCOME_REASONS = {
    chess.Termination.STALEMATE: "Draw by stalemate",
    chess.Termination.INSUFFICIENT_MATERIAL: "Draw by insufficient mating material",
    chess.Termination.SEVENTYFIVE_MOVES: "Draw by fifty moves rule",
    chess.Termination.FIFTY_MOVES: "Draw by fifty moves rule",
    chess.Termination.FIVEFOLD_REPETITION: "Draw by 3-fold repetition",
    chess.Termination.THREEFOLD_REPETITION: "Draw by 3-fold repetition",
}


def _move_comment(info: chess.engine.InfoDict, elapsed: float) -> str:
    """cutechess-style move comment: ``+0.25/12 0.051s``."""
    score = info.get("score")
    text = ""
    if score is not None:
        relative = score.relative
        mate = relative.mate()
        if mate is not None:
            text = f"{'+' if mate > 0 else '-'}M{abs(mate)}"
        else:
            text = f"{(relative.score() or 0) / 100:+.2f}"
        text += f"/{info.get('depth', 0)} "
    return f"{text}{elapsed:.3f}s"


def _openings_for(config: MatchConfig) -> list[Opening]:
    if config.book is None:
        return [Opening(chess.STARTING_FEN)] * config.pairs
    return load_openings(config.book, config.pairs, order=config.book_order,
                         start=config.book_start, plies=config.book_plies, seed=config.seed)


@dataclass
class _GameState:
    """Mutable state of a game being played by the built-in runner."""

    board: chess.Board
    game: chess.pgn.Game
    node: chess.pgn.GameNode
    clocks: dict[chess.Color, float]
    moves_in_period: dict[chess.Color, int]


def _pgn_headers(game: chess.pgn.Game, config: MatchConfig, number: int,
                 white: EngineSpec, black: EngineSpec) -> None:
    headers = game.headers
    headers["Event"] = config.event
    headers["Site"] = "?"
    headers["Date"] = date.today().strftime("%Y.%m.%d")
    headers["Round"] = str(number)
    headers["White"] = white.name
    headers["Black"] = black.name
    wtc, btc = white.limit.pgn_time_control(), black.limit.pgn_time_control()
    if wtc == btc:
        headers["TimeControl"] = wtc
    else:
        headers["WhiteTimeControl"], headers["BlackTimeControl"] = wtc, btc
        headers["TimeControl"] = "-"
    wl, bl = white.limit.describe(), black.limit.describe()
    if wl == bl:
        headers["SearchLimit"] = wl
    else:
        headers["WhiteSearchLimit"], headers["BlackSearchLimit"] = wl, bl


class BuiltinRunner:
    """Plays a match with python-chess's asyncio engine API."""

    def __init__(self, config: MatchConfig,
                 on_game: Callable[[MatchResult], None] | None = None) -> None:
        self.config = config
        self.on_game = on_game
        self.result = MatchResult(config.engines[0].name, config.engines[1].name, [],
                                  sprt=config.sprt, runner="builtin")
        self.started_once = [False, False]

    def run(self) -> MatchResult:
        """Play all pairs (or until the SPRT decides) and return the results."""
        openings = _openings_for(self.config)
        stderr: contextlib.AbstractContextManager[object]
        if self.config.engine_stderr is not None:
            stderr = self.config.engine_stderr.open("a")
        else:
            stderr = contextlib.nullcontext(subprocess.DEVNULL)
        with stderr as sink:
            asyncio.run(self._run(openings, sink))
        self.result.games.sort(key=lambda g: g.number)
        return self.result

    async def _run(self, openings: list[Opening], sink: object) -> None:
        queue: asyncio.Queue[tuple[int, Opening]] = asyncio.Queue()
        for index, opening in enumerate(openings):
            queue.put_nowait((index + 1, opening))
        workers = min(self.config.concurrency, len(openings))
        tasks = [asyncio.create_task(self._worker(queue, sink)) for _ in range(workers)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _decided(self) -> bool:
        sprt = self.config.sprt
        if sprt is None:
            return False
        llr = self.result.llr()
        return llr is not None and sprt.state(llr) != CONTINUE

    async def _worker(self, queue: asyncio.Queue[tuple[int, Opening]], sink: object) -> None:
        players = [EngineProcess(spec, self.config.startup_timeout, sink)  # type: ignore[arg-type]
                   for spec in self.config.engines]
        try:
            while not queue.empty() and not self._decided():
                pair, opening = queue.get_nowait()
                for game_in_pair in range(2):
                    number = 2 * (pair - 1) + game_in_pair + 1
                    white, black = (0, 1) if game_in_pair == 0 else (1, 0)
                    record = await self._play(players[white], players[black], white == 0,
                                              opening, number, pair)
                    self.result.games.append(record)
                    if self.on_game is not None:
                        self.on_game(self.result)
        finally:
            for player in players:
                await player.quit()

    async def _start(self, player: EngineProcess, index: int) -> bool:
        """Start an engine; a first start failure aborts the match, later ones lose games."""
        try:
            await player.ensure_started()
        except MatchError:
            if not self.started_once[index]:
                raise
            return False
        self.started_once[index] = True
        return True

    async def _play(self, white: EngineProcess, black: EngineProcess, a_is_white: bool,
                    opening: Opening, number: int, pair: int) -> GameRecord:
        config = self.config
        players = {chess.WHITE: white, chess.BLACK: black}
        indices = {chess.WHITE: 0 if a_is_white else 1, chess.BLACK: 1 if a_is_white else 0}
        game = chess.pgn.Game()
        game.setup(chess.Board(opening.fen))
        node: chess.pgn.GameNode = game
        for uci in opening.moves:
            node = node.add_variation(chess.Move.from_uci(uci))
        clocks = {colour: (p.spec.limit.tc.base if p.spec.limit.tc else 0.0)
                  for colour, p in players.items()}
        state = _GameState(board=opening.board(), game=game, node=node, clocks=clocks,
                           moves_in_period={chess.WHITE: 0, chess.BLACK: 0})
        _pgn_headers(game, config, number, white.spec, black.spec)
        for colour in (chess.WHITE, chess.BLACK):
            if not await self._start(players[colour], indices[colour]):
                failed = self._fault_result(colour, CRASH, "")
                return self._finish(state, *failed[:3], number, pair, fault=failed[3],
                                    culprit=players[colour].spec.name)
        adjudicator = Adjudicator(config.adjudication)
        key = object()
        while True:
            board = state.board
            outcome = game_outcome(board)
            if outcome is not None:
                if outcome.winner is None:
                    reason = OUTCOME_REASONS.get(outcome.termination, "Draw")
                else:
                    reason = f"{'White' if outcome.winner else 'Black'} mates"
                return self._finish(state, outcome.result(), TERM_NORMAL, reason, number, pair)
            colour = board.turn
            player = players[colour]
            verdict = await self._move(player, colour, state, key, adjudicator)
            if verdict is not None:
                culprit = player.spec.name if verdict[3] else None
                return self._finish(state, *verdict[:3], number, pair, fault=verdict[3],
                                    culprit=culprit)

    def _go_limit(self, player: EngineProcess, colour: chess.Color,
                  state: _GameState) -> tuple[chess.engine.Limit, float, float | None]:
        """The UCI limit, the wall-clock timeout and the time budget (None: no clock)."""
        limit = player.spec.limit
        margin = self.config.timemargin_ms / 1000.0
        go = chess.engine.Limit(nodes=limit.nodes, depth=limit.depth)
        budget: float | None = None
        if limit.tc is not None:
            tc = limit.tc
            go.white_clock = state.clocks[chess.WHITE] if state.clocks[chess.WHITE] else state.clocks[colour]
            go.black_clock = state.clocks[chess.BLACK] if state.clocks[chess.BLACK] else state.clocks[colour]
            go.white_inc = go.black_inc = tc.increment
            if tc.moves:
                go.remaining_moves = tc.moves - state.moves_in_period[colour]
            budget = state.clocks[colour]
        if limit.movetime_ms is not None:
            go.time = limit.movetime_ms / 1000.0
            budget = go.time if budget is None else min(budget, go.time)
        timeout = budget + margin + FLAG_GRACE if budget is not None else self.config.move_timeout
        return go, timeout, budget

    async def _move(self, player: EngineProcess, colour: chess.Color, state: _GameState,
                    key: object, adjudicator: Adjudicator) -> tuple[str, str, str, str | None] | None:
        """Let ``player`` move; return ``(result, termination, reason, fault)`` if the game ends."""
        go, timeout, budget = self._go_limit(player, colour, state)
        margin = self.config.timemargin_ms / 1000.0
        start = time.monotonic()
        try:
            played = await player.search(state.board, go, timeout, game=key,
                                         info=chess.engine.INFO_BASIC | chess.engine.INFO_SCORE)
        except asyncio.TimeoutError:
            if budget is not None:
                return self._fault_result(colour, TIME_LOSS, "", state.board)
            return self._fault_result(colour, DISCONNECT, "")
        except (chess.engine.EngineTerminatedError, MatchError):
            return self._fault_result(colour, CRASH, "")
        except chess.engine.EngineError as exc:
            found = re.search(r"'([^']*)'", str(exc))
            return self._fault_result(colour, ILLEGAL_MOVE, found.group(1) if found else str(exc))
        elapsed = time.monotonic() - start
        if budget is not None and elapsed > budget + margin:
            return self._fault_result(colour, TIME_LOSS, "", state.board)
        move = played.move
        if move is None or move not in state.board.legal_moves:
            return self._fault_result(colour, ILLEGAL_MOVE, "(none)" if move is None else move.uci())
        tc = player.spec.limit.tc
        if tc is not None:
            state.clocks[colour] += tc.increment - elapsed
            state.moves_in_period[colour] += 1
            if tc.moves and state.moves_in_period[colour] >= tc.moves:
                state.clocks[colour] += tc.base
                state.moves_in_period[colour] = 0
        state.board.push(move)
        state.node = state.node.add_variation(move, comment=_move_comment(played.info, elapsed))
        verdict = adjudicator.update(colour, score_cp(played.info), state.board)
        if verdict is not None:
            return verdict[0], TERM_ADJUDICATION, verdict[1], None
        return None

    @staticmethod
    def _fault_result(colour: chess.Color, fault: str, detail: str,
                      board: chess.Board | None = None) -> tuple[str, str, str, str]:
        side = "White" if colour == chess.WHITE else "Black"
        result = "0-1" if colour == chess.WHITE else "1-0"
        if fault == TIME_LOSS:
            reason = f"{side} loses on time"
            if board is not None and board.has_insufficient_material(not colour):
                result, reason = "1/2-1/2", f"{reason}, draw by insufficient mating material"
            return result, TERM_TIME, reason, fault
        if fault == ILLEGAL_MOVE:
            return result, TERM_ILLEGAL, f"{side} makes an illegal move: {detail}", fault
        if fault == CRASH:
            return result, TERM_CRASH, f"{side} disconnects", fault
        return result, TERM_STALL, f"{side}'s connection stalls", fault

    def _finish(self, state: _GameState, result: str, termination: str, reason: str,
                number: int, pair: int, fault: str | None = None,
                culprit: str | None = None) -> GameRecord:
        game = state.game
        game.headers["Result"] = result
        game.headers["Termination"] = termination
        game.headers["PlyCount"] = str(state.board.ply())
        state.node.comment = f"{state.node.comment} {reason}".strip() if state.node is not game \
            else reason
        exporter = chess.pgn.StringExporter(headers=True, variations=True, comments=True)
        return GameRecord(number=number, pair=pair, white=game.headers["White"],
                          black=game.headers["Black"], result=result, termination=termination,
                          reason=reason, fault=fault, culprit=culprit, pgn=game.accept(exporter))
