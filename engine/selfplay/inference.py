"""The batched inference server: one process per device that owns the net and merges the actors' requests.

Each actor slot has a block of shared memory (:class:`SharedBatch`: the request's input planes,
the answer's policy logits and WDL) and a pipe to the server. A request is one small message
``(slot, count, request_id)``; the planes never go through the pipe. The server waits for a
first request, then takes every other request that arrives within ``max_wait_ms`` (or until
``max_batch`` positions, or until every actor is waiting), runs them as one batch and answers
each slot with its ``request_id`` (an actor restarted on the same slot ignores answers meant
for its predecessor).

Control messages from the run's manager: ``reload`` (a promoted net; for ``int8-static`` the
server calibrates it on positions of the replay buffer), ``stats`` and ``stop``.

:func:`build_evaluator` is also what the in-process benchmark uses, so every precision goes
through the same code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from multiprocessing import connection, shared_memory
from typing import Any

import numpy as np

INPUT_SHAPE = (112, 8, 8)
POLICY_SIZE = 1858
WDL_SIZE = 3
FLOAT_BYTES = 4
CALIBRATION_SEED = 0


def batch_bytes(capacity: int) -> int:
    return capacity * (int(np.prod(INPUT_SHAPE)) + POLICY_SIZE + WDL_SIZE) * FLOAT_BYTES


class SharedBatch:
    """One slot's shared memory: ``planes`` (capacity, 112, 8, 8), ``policy`` (capacity, 1858) and
    ``wdl`` (capacity, 3), float32. The manager creates it (``name=None``), others attach by name."""

    def __init__(self, capacity: int, name: str | None = None) -> None:
        self.capacity = capacity
        self.owner = name is None
        self.memory = shared_memory.SharedMemory(name=name, create=self.owner, size=batch_bytes(capacity))
        self.name = self.memory.name
        buffer = self.memory.buf
        planes_size = capacity * int(np.prod(INPUT_SHAPE))
        self.planes = np.ndarray((capacity, *INPUT_SHAPE), dtype=np.float32, buffer=buffer)
        self.policy = np.ndarray((capacity, POLICY_SIZE), dtype=np.float32, buffer=buffer,
                                 offset=planes_size * FLOAT_BYTES)
        self.wdl = np.ndarray((capacity, WDL_SIZE), dtype=np.float32, buffer=buffer,
                              offset=(planes_size + capacity * POLICY_SIZE) * FLOAT_BYTES)

    def close(self) -> None:
        del self.planes, self.policy, self.wdl
        self.memory.close()
        if self.owner:
            self.memory.unlink()


class ServerGone(RuntimeError):
    """The inference server stopped answering."""


class SharedMemoryClient:
    """An actor's side of a slot: writes planes into shared memory, one pipe message per request."""

    def __init__(self, slot: int, batch: SharedBatch, conn: connection.Connection, incarnation: int,
                 timeout_s: float = 600.0) -> None:
        self.slot = slot
        self.batch = batch
        self.planes = batch.planes
        self.conn = conn
        self.incarnation = incarnation
        self.timeout_s = timeout_s
        self._counter = 0

    def evaluate(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        self._counter += 1
        request_id = (self.incarnation, self._counter)
        self.conn.send(("eval", self.slot, count, request_id))
        deadline = time.monotonic() + self.timeout_s
        while True:
            if not self.conn.poll(max(0.0, deadline - time.monotonic())):
                raise ServerGone(f"no answer from the inference server in {self.timeout_s:.0f} s")
            if self.conn.recv() == request_id:  # else an answer to this slot's previous actor
                return self.batch.policy[:count], self.batch.wdl[:count]


class LocalEvaluatorClient:
    """In-process client (benchmarks, single-process use): the actor calls the evaluator directly."""

    def __init__(self, evaluator: Any, capacity: int) -> None:
        self.evaluator = evaluator
        self.planes = np.zeros((capacity, *INPUT_SHAPE), dtype=np.float32)
        self.network_seconds = 0.0

    def evaluate(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        started = time.perf_counter()
        policy, wdl = self.evaluator.evaluate(self.planes[:count])
        self.network_seconds += time.perf_counter() - started
        return policy, wdl


def calibration_planes(buffer_folder: str | None, count: int) -> tuple[np.ndarray, str]:
    """Positions for int8-static calibration: the replay buffer's window, else generated positions."""
    if buffer_folder:
        from engine.selfplay.replay import ReplayBuffer

        planes = ReplayBuffer(buffer_folder, window=max(count * 20, 10_000)).sample_planes(count, CALIBRATION_SEED)
        if len(planes) >= min(count, 64):
            return planes, f"{len(planes)} replay-buffer positions"
    from engine.nn.positions import encode_positions, generate_positions

    return encode_positions(generate_positions(count, seed=CALIBRATION_SEED)), f"{count} generated positions"


def build_evaluator(net_path: str, precision: str, device: str, threads: int | None = None,
                    buffer_folder: str | None = None, calibration_positions: int = 512) -> Any:
    """An :class:`engine.nn.evaluator.Evaluator` of an fp32 net file at ``precision``.

    ``int8-static`` is made here: post-training static quantization calibrated on
    :func:`calibration_planes`.
    """
    from engine.nn import quantization
    from engine.nn.evaluator import make_evaluator, set_threads
    from engine.nn.loader import load_net

    set_threads(threads or None)
    net, net_file = load_net(net_path)
    if net_file.precision != "fp32":
        raise ValueError(f"{net_path} holds {net_file.precision} weights; self-play nets are fp32 files")
    if precision == "int8-static":
        planes, source = calibration_planes(buffer_folder, calibration_positions)
        module, _ = quantization.static_quantize(net, planes, source, progress=False)
        evaluator = make_evaluator(module, net_file.config, "int8-static", "int8-static", "cpu", source=net_path)
        evaluator.calibration = source
        return evaluator
    return make_evaluator(net, net_file.config, "fp32", precision, device, source=net_path)


@dataclass
class ServerStats:
    batches: int = 0
    positions: int = 0
    network_seconds: float = 0.0
    max_batch_seen: int = 0

    def to_dict(self) -> dict[str, float]:
        return {"batches": self.batches, "positions": self.positions,
                "network_seconds": round(self.network_seconds, 3), "max_batch_seen": self.max_batch_seen,
                "mean_batch": round(self.positions / self.batches, 1) if self.batches else 0.0}


def serve(net_path: str, precision: str, device: str, threads: int, max_batch: int, max_wait_ms: float,
          slots: list[tuple[str, int, connection.Connection]], control: connection.Connection,
          buffer_folder: str | None, calibration_positions: int) -> None:
    """The server process's body. ``slots``: (shared memory name, capacity, server end of the pipe)."""
    try:
        evaluator = build_evaluator(net_path, precision, device, threads, buffer_folder, calibration_positions)
    except Exception as error:  # reported to the manager, which stops the run with it
        control.send(("error", f"{type(error).__name__}: {error}"))
        return
    batches = [SharedBatch(capacity, name) for name, capacity, _ in slots]
    pipes = [conn for _, _, conn in slots]
    slot_of = {id(conn): index for index, conn in enumerate(pipes)}
    stats = ServerStats()
    control.send(("ready", evaluator.describe()))
    max_wait_s = max_wait_ms / 1000.0
    watched = [*pipes, control]
    while True:
        pending: dict[int, tuple[int, Any]] = {}
        ready = connection.wait(watched)
        deadline = time.monotonic() + max_wait_s
        stop = False
        while True:
            for conn in ready:
                if conn is control:
                    message = control.recv()
                    if message[0] == "stop":
                        stop = True
                    elif message[0] == "stats":
                        control.send(("stats", stats.to_dict()))
                    elif message[0] == "reload":
                        _, net_path, buffer_folder = message
                        try:
                            evaluator = build_evaluator(net_path, precision, device, threads, buffer_folder,
                                                        calibration_positions)
                            control.send(("reloaded", evaluator.describe()))
                        except Exception as error:
                            control.send(("error", f"{type(error).__name__}: {error}"))
                    continue
                try:
                    _, slot, count, request_id = conn.recv()
                except (EOFError, OSError):  # the slot's actor died mid-message; the manager restarts it
                    continue
                pending[slot_of[id(conn)]] = (count, request_id)
            total = sum(count for count, _ in pending.values())
            remaining = deadline - time.monotonic()
            if stop or not pending or total >= max_batch or len(pending) == len(pipes) or remaining <= 0:
                break
            ready = connection.wait([conn for i, conn in enumerate(pipes) if i not in pending] + [control],
                                    remaining)
            if not ready:
                break
        if pending:
            order = sorted(pending)
            planes = np.concatenate([batches[slot].planes[:pending[slot][0]] for slot in order])
            started = time.perf_counter()
            policy, wdl = evaluator.evaluate(planes)
            stats.network_seconds += time.perf_counter() - started
            stats.batches += 1
            stats.positions += len(planes)
            stats.max_batch_seen = max(stats.max_batch_seen, len(planes))
            offset = 0
            for slot in order:
                count, request_id = pending[slot]
                batches[slot].policy[:count] = policy[offset:offset + count]
                batches[slot].wdl[:count] = wdl[offset:offset + count]
                offset += count
                try:
                    pipes[slot].send(request_id)
                except (BrokenPipeError, OSError):
                    pass
        if stop:
            break
    for batch in batches:
        batch.close()
    control.send(("stopped", stats.to_dict()))
