"""Actors and the inference server as local processes (``engine selfplay`` without ``--ray``).

:class:`LocalPool` starts one inference-server process and ``actors`` actor processes (spawned,
so that none inherits torch's thread pools). Actors get their game quota and the net's generation
over a command pipe and report each finished game back on it (the game itself is already on
disk). An actor that dies is restarted on its slot with the games still owed; a server that dies
stops the run with its error (``--resume`` continues it).
"""

from __future__ import annotations

import multiprocessing
import pathlib
import time
from collections.abc import Callable
from dataclasses import asdict
from multiprocessing import connection
from typing import Any

from engine.selfplay.config import ActorConfig, RunConfig

START_TIMEOUT_S = 600.0
POLL_S = 0.5


class PoolError(RuntimeError):
    """The pool cannot go on (the server died or failed to load the net)."""


def game_summary(game: Any, actor: int) -> dict[str, Any]:
    """What the manager learns of a finished game (the record itself is in the buffer)."""
    return {"actor": actor, "number": game.number, "plies": len(game.moves), "positions": sum(game.keep),
            "result": game.result, "termination": game.termination, "playthrough": game.playthrough,
            "would_resign": game.would_resign, "false_positive": game.false_positive,
            "generation": game.generation}


def actor_process(slot: int, incarnation: int, actor_config: dict[str, Any], shm_name: str, capacity: int,
                  server_conn: connection.Connection, command_conn: connection.Connection,
                  buffer_folder: str, first_game: int) -> None:
    """An actor process's body: play on command, write each finished game, report it."""
    from engine.nn.positions import OPENINGS_PATH, opening_fens
    from engine.selfplay.actor import ActorStats, SelfPlayActor
    from engine.selfplay.inference import SharedBatch, SharedMemoryClient
    from engine.selfplay.replay import ShardWriter

    config = ActorConfig(**actor_config)
    batch = SharedBatch(capacity, shm_name)
    client = SharedMemoryClient(slot, batch, server_conn, incarnation)
    writer = ShardWriter(pathlib.Path(buffer_folder), slot, config.policy_moves)
    actor = SelfPlayActor(config, client, opening_fens(config.book or OPENINGS_PATH), actor_id=slot,
                          first_game=first_game)
    command_conn.send(("ready",))
    while True:
        message = command_conn.recv()
        if message[0] == "stop":
            break
        if message[0] != "play":
            continue
        _, games, generation = message
        actor.generation = generation
        actor.stats = ActorStats()
        started = time.perf_counter()

        def on_game(game: Any) -> None:
            writer.write([game])
            command_conn.send(("game", game_summary(game, slot)))

        actor.play(games, on_game, should_stop=command_conn.poll)
        if command_conn.poll():
            halt = command_conn.recv()
            if halt[0] == "stop":
                break
        command_conn.send(("done", asdict(actor.stats), time.perf_counter() - started))
    batch.close()


class LocalPool:
    """The actors and the inference server of one machine."""

    def __init__(self, config: RunConfig, buffer_folder: pathlib.Path, net_path: str,
                 first_games: list[int]) -> None:
        from engine.selfplay.inference import SharedBatch

        self.config = config
        self.buffer_folder = str(buffer_folder)
        self.context = multiprocessing.get_context("spawn")
        actor = config.actor
        self.capacity = actor.games_at_once * actor.minibatch
        self.batches = [SharedBatch(self.capacity) for _ in range(actor.actors)]
        self.server_pipes = [self.context.Pipe() for _ in range(actor.actors)]
        self.control, server_control = self.context.Pipe()
        self.slot_games = list(first_games)
        self.incarnations = [0] * actor.actors
        self.actors: list[Any] = [None] * actor.actors
        self.commands: list[Any] = [None] * actor.actors
        self.restarts = 0
        inference = config.inference
        slots = [(batch.name, self.capacity, server_end) for batch, (server_end, _) in
                 zip(self.batches, self.server_pipes)]
        self.server = self.context.Process(
            target=_serve_entry, name="inference-server", daemon=True,
            args=(net_path, inference.precision, inference.device, inference.threads, inference.max_batch,
                  inference.max_wait_ms, slots, server_control, self.buffer_folder,
                  inference.calibration_positions))
        self.server.start()
        self.description = self._await_control("ready")
        for slot in range(actor.actors):
            self._start_actor(slot)

    def _await_control(self, expected: str) -> Any:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.control.poll(POLL_S):
                kind, payload = self.control.recv()
                if kind == "error":
                    raise PoolError(f"inference server: {payload}")
                if kind == expected:
                    return payload
            elif not self.server.is_alive():
                raise PoolError(f"inference server exited (code {self.server.exitcode})")
        raise PoolError(f"inference server: no {expected!r} in {START_TIMEOUT_S:.0f} s")

    def _start_actor(self, slot: int) -> None:
        self.incarnations[slot] += 1
        manager_end, actor_end = self.context.Pipe()
        process = self.context.Process(
            target=actor_process, name=f"actor-{slot}", daemon=True,
            args=(slot, self.incarnations[slot], asdict(self.config.actor), self.batches[slot].name,
                  self.capacity, self.server_pipes[slot][1], actor_end, self.buffer_folder,
                  self.slot_games[slot]))
        process.start()
        actor_end.close()
        if not manager_end.poll(START_TIMEOUT_S):
            raise PoolError(f"actor {slot} did not start")
        manager_end.recv()
        self.actors[slot], self.commands[slot] = process, manager_end

    def play(self, games: int, generation: int, on_game: Callable[[dict[str, Any]], None],
             deadline: float | None = None) -> dict[str, Any]:
        """Play ``games`` games (shared among the actors); returns the actors' summed stats."""
        count = len(self.actors)
        owed = [games // count + (1 if slot < games % count else 0) for slot in range(count)]
        done = [owed[slot] == 0 for slot in range(count)]
        for slot in range(count):
            if owed[slot]:
                self.commands[slot].send(("play", owed[slot], generation))
        totals: dict[str, Any] = {}
        halted = False
        while not all(done):
            live = {id(self.commands[s]): s for s in range(count) if not done[s]}
            for conn in connection.wait([self.commands[s] for s in range(count) if not done[s]], POLL_S):
                slot = live[id(conn)]
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    continue  # died: restarted below
                if message[0] == "game":
                    owed[slot] -= 1
                    self.slot_games[slot] += 1
                    on_game(message[1])
                elif message[0] == "done":
                    done[slot] = True
                    _merge(totals, message[1])
            if not self.server.is_alive():
                raise PoolError(f"inference server exited (code {self.server.exitcode})")
            for slot in range(count):
                if not done[slot] and not self.actors[slot].is_alive():
                    self.restarts += 1
                    self._start_actor(slot)
                    if owed[slot] > 0 and not halted:
                        self.commands[slot].send(("play", owed[slot], generation))
                    else:
                        done[slot] = True
            if deadline is not None and time.monotonic() > deadline and not halted:
                halted = True
                for slot in range(count):
                    if not done[slot]:
                        self.commands[slot].send(("halt",))
        return totals

    def kill_actor(self, slot: int) -> None:
        """Kill an actor process (tests: the pool must restart it)."""
        self.actors[slot].kill()

    def reload(self, net_path: str) -> str:
        self.control.send(("reload", net_path, self.buffer_folder))
        self.description = self._await_control("reloaded")
        return self.description

    def server_stats(self) -> dict[str, Any]:
        self.control.send(("stats",))
        return self._await_control("stats")

    def close(self) -> None:
        for slot, process in enumerate(self.actors):
            if process is not None and process.is_alive():
                try:
                    self.commands[slot].send(("stop",))
                except OSError:
                    pass
                process.join(5)
                if process.is_alive():
                    process.kill()
        if self.server.is_alive():
            try:
                self.control.send(("stop",))
                self._await_control("stopped")
            except (PoolError, OSError):
                pass
            self.server.join(5)
            if self.server.is_alive():
                self.server.kill()
        for batch in self.batches:
            batch.close()


def _serve_entry(*args: Any) -> None:
    from engine.selfplay.inference import serve

    serve(*args)


def _merge(totals: dict[str, Any], stats: dict[str, Any]) -> None:
    """Sum actor stats (nested dicts of numbers)."""
    for key, value in stats.items():
        if isinstance(value, dict):
            _merge(totals.setdefault(key, {}), value)
        else:
            totals[key] = totals.get(key, 0) + value
