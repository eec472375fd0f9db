"""Actors and the inference server as Ray actors (``engine selfplay --ray [ADDRESS]``).

The same :class:`engine.selfplay.actor.SelfPlayActor` and :func:`engine.selfplay.inference.build_evaluator`
as the local pool, placed by Ray: each actor asks for one CPU, the server for one CPU or one GPU
(``--inference-device cuda``). Planes travel as numpy arrays through Ray's object store (shared
memory on a node, no pickling of the array data); the server is a threaded Ray actor whose
batching thread merges the concurrent ``evaluate`` calls into one network call (``max_batch``,
``max_wait_ms``). Actors are restarted by Ray when they die (``max_restarts``); the pool re-asks
a restarted actor for the games it still owes. Games go to the buffer folder, which must be on
storage every node sees (the run directory on NFS or similar).

Several machines: start Ray on the head (``ray start --head``) and on each worker
(``ray start --address HEAD:6379``), install this package on all of them, put the run directory
on shared storage, and run ``engine selfplay --ray HEAD:6379 ...`` on the head.
"""

from __future__ import annotations

import concurrent.futures
import pathlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np
import ray

from engine.selfplay.config import ActorConfig, RunConfig
from engine.selfplay.local import PoolError, _merge, game_summary

ACTOR_RESTARTS = 8
CALL_TIMEOUT_S = 600.0


@ray.remote(max_restarts=ACTOR_RESTARTS)
class InferenceServerActor:
    """The net and a batching thread; ``evaluate`` may be called by many actors at once."""

    def __init__(self, net_path: str, precision: str, device: str, threads: int, max_batch: int,
                 max_wait_ms: float, buffer_folder: str, calibration_positions: int, callers: int) -> None:
        from engine.selfplay.inference import ServerStats, build_evaluator

        self.settings = (precision, device, threads, calibration_positions)
        self.evaluator = build_evaluator(net_path, precision, device, threads, buffer_folder, calibration_positions)
        self.max_batch, self.max_wait_s, self.callers = max_batch, max_wait_ms / 1000.0, callers
        self.requests: queue.Queue = queue.Queue()
        self.stats_record = ServerStats()
        self.lock = threading.Lock()
        threading.Thread(target=self._batching_loop, daemon=True, name="batching").start()

    def describe(self) -> str:
        return self.evaluator.describe() + " (Ray actor)"

    def evaluate(self, planes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        future: concurrent.futures.Future = concurrent.futures.Future()
        self.requests.put((planes, future))
        return future.result()

    def reload(self, net_path: str, buffer_folder: str) -> str:
        from engine.selfplay.inference import build_evaluator

        precision, device, threads, calibration = self.settings
        evaluator = build_evaluator(net_path, precision, device, threads, buffer_folder, calibration)
        with self.lock:
            self.evaluator = evaluator
        return self.describe()

    def stats(self) -> dict[str, Any]:
        return self.stats_record.to_dict()

    def _batching_loop(self) -> None:
        while True:
            items = [self.requests.get()]
            total = len(items[0][0])
            deadline = time.monotonic() + self.max_wait_s
            while total < self.max_batch and len(items) < self.callers:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    items.append(self.requests.get(timeout=remaining))
                except queue.Empty:
                    break
                total += len(items[-1][0])
            planes = np.concatenate([item[0] for item in items])
            started = time.perf_counter()
            try:
                with self.lock:
                    policy, wdl = self.evaluator.evaluate(planes)
            except Exception as error:  # every waiting caller gets the error
                for _, future in items:
                    future.set_exception(error)
                continue
            record = self.stats_record
            record.network_seconds += time.perf_counter() - started
            record.batches += 1
            record.positions += len(planes)
            record.max_batch_seen = max(record.max_batch_seen, len(planes))
            offset = 0
            for batch, future in items:
                count = len(batch)
                future.set_result((policy[offset:offset + count], wdl[offset:offset + count]))
                offset += count


class RayClient:
    """An actor's client of the Ray server: a local request buffer, one remote call per request."""

    def __init__(self, server: Any, capacity: int) -> None:
        from engine.selfplay.inference import INPUT_SHAPE

        self.server = server
        self.planes = np.zeros((capacity, *INPUT_SHAPE), dtype=np.float32)

    def evaluate(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        return ray.get(self.server.evaluate.remote(self.planes[:count]), timeout=CALL_TIMEOUT_S)


@ray.remote(max_restarts=ACTOR_RESTARTS, max_task_retries=0)
class SelfPlayWorker:
    """One self-play actor on a Ray node: plays, writes each game to the shared buffer folder."""

    def __init__(self, slot: int, actor_config: dict[str, Any], server: Any, buffer_folder: str,
                 first_game: int) -> None:
        from engine.nn.positions import OPENINGS_PATH, opening_fens
        from engine.selfplay.actor import SelfPlayActor
        from engine.selfplay.replay import ShardWriter

        config = ActorConfig(**actor_config)
        self.slot = slot
        self.writer = ShardWriter(pathlib.Path(buffer_folder), slot, config.policy_moves)
        # A restarted worker starts after the games its slot already wrote.
        first_game = max(first_game, self.writer.sequence)
        client = RayClient(server, config.games_at_once * config.minibatch)
        self.actor = SelfPlayActor(config, client, opening_fens(config.book or OPENINGS_PATH), actor_id=slot,
                                   first_game=first_game)

    def pid(self) -> int:
        import os

        return os.getpid()

    def play(self, games: int, generation: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        from engine.selfplay.actor import ActorStats

        self.actor.generation = generation
        self.actor.stats = ActorStats()
        summaries: list[dict[str, Any]] = []

        def on_game(game: Any) -> None:
            self.writer.write([game])
            summaries.append(game_summary(game, self.slot))

        self.actor.play(games, on_game)
        return summaries, asdict(self.actor.stats)


class RayPool:
    """The actors and the server on a Ray cluster (a local one with ``address="local"``)."""

    def __init__(self, config: RunConfig, buffer_folder: pathlib.Path, net_path: str, first_games: list[int],
                 address: str) -> None:
        if not ray.is_initialized():
            if address == "local":
                import os

                # Logical CPUs for the server plus every actor, so that a small machine still schedules them all.
                ray.init(num_cpus=max(os.cpu_count() or 1, config.actor.actors + 1), include_dashboard=False,
                         log_to_driver=False, configure_logging=False)
            else:
                ray.init(address=address, log_to_driver=False)
        self.owns_ray = address == "local"
        self.config = config
        self.buffer_folder = str(pathlib.Path(buffer_folder).resolve())
        inference, actor = config.inference, config.actor
        gpu = inference.device.startswith("cuda")
        self.server = InferenceServerActor.options(num_cpus=0 if gpu else 1, num_gpus=1 if gpu else 0,
                                                   max_concurrency=actor.actors + 4).remote(
            str(pathlib.Path(net_path).resolve()), inference.precision, inference.device, inference.threads,
            inference.max_batch, inference.max_wait_ms, self.buffer_folder, inference.calibration_positions,
            actor.actors)
        try:
            self.description = ray.get(self.server.describe.remote(), timeout=CALL_TIMEOUT_S)
        except Exception as error:
            raise PoolError(f"inference server (Ray): {error}") from None
        self.workers = [SelfPlayWorker.options(num_cpus=1).remote(slot, asdict(actor), self.server,
                                                                  self.buffer_folder, first_games[slot])
                        for slot in range(actor.actors)]
        self.chunk = max(1, actor.games_at_once // 4)
        self.restarts = 0

    def play(self, games: int, generation: int, on_game: Callable[[dict[str, Any]], None],
             deadline: float | None = None) -> dict[str, Any]:
        count = len(self.workers)
        owed = [games // count + (1 if slot < games % count else 0) for slot in range(count)]
        pending: dict[Any, int] = {}
        totals: dict[str, Any] = {}

        def submit(slot: int) -> None:
            if owed[slot] > 0 and (deadline is None or time.monotonic() < deadline):
                pending[self.workers[slot].play.remote(min(self.chunk, owed[slot]), generation)] = slot

        for slot in range(count):
            submit(slot)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=CALL_TIMEOUT_S)
            if not ready:
                raise PoolError(f"no self-play progress on Ray in {CALL_TIMEOUT_S:.0f} s")
            slot = pending.pop(ready[0])
            try:
                summaries, stats = ray.get(ready[0])
            except ray.exceptions.RayActorError:
                self.restarts += 1  # Ray restarts the actor; ask it again for what is owed
                submit(slot)
                continue
            except ray.exceptions.RayTaskError as error:
                raise PoolError(f"self-play actor {slot}: {error}") from None
            for summary in summaries:
                owed[slot] -= 1
                on_game(summary)
            _merge(totals, stats)
            submit(slot)
        return totals

    def kill_actor(self, slot: int) -> None:
        """Kill an actor's process (tests: Ray restarts it and the pool re-asks it)."""
        ray.kill(self.workers[slot], no_restart=False)

    def reload(self, net_path: str) -> str:
        self.description = ray.get(self.server.reload.remote(str(pathlib.Path(net_path).resolve()),
                                                             self.buffer_folder), timeout=CALL_TIMEOUT_S)
        return self.description

    def server_stats(self) -> dict[str, Any]:
        return ray.get(self.server.stats.remote(), timeout=CALL_TIMEOUT_S)

    def close(self) -> None:
        for worker in self.workers:
            ray.kill(worker, no_restart=True)
        ray.kill(self.server, no_restart=True)
        if self.owns_ray:
            ray.shutdown()
