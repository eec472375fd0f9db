"""``engine profile``: where the time of ``engine bench`` goes.

Runs the bench search (same positions, playouts, net and batch) plain, instrumented, and plain
again (the faster plain run is the reference nodes/second, so the instrumentation's cost shows),
and splits the instrumented run's wall time into

* **game state**: move generation, make/unmake, terminal checks (C, timed inside the tree);
* **encoding**: the 112 input planes and the legal moves' policy indices (C, timed inside the tree);
* **network**: the evaluator call (numpy to torch, forward pass, softmax, back to numpy);
* **tree**: selection, expansion, backup and NN cache, i.e. the rest of the tree's C calls
  (``gather``, ``apply``, and ``clear`` between positions);
* **other**: everything else, mostly the Python search loop between those calls.

The C buckets come from :attr:`cython_ext.mcts.SearchTree.profiling` (monotonic clock at each
switch between them); the network is timed around the evaluator; *other* is the wall time less
the four, so the rows add up to the measured total.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from engine.bench.bench import BenchSearch, start_bench_command

if TYPE_CHECKING:
    from engine.nn.evaluator import Evaluator

COMPONENTS = (
    ("state", "game state (movegen, make/unmake)"),
    ("encoding", "encoding (planes, policy indices)"),
    ("network", "network (evaluator call)"),
    ("tree", "tree (select, backup, NN cache)"),
    ("other", "other (Python glue)"),
)
"""Profile rows: key and label."""


class TimedEvaluator:
    """An evaluator that adds the wall time of each :meth:`evaluate` call to :attr:`seconds`."""

    def __init__(self, inner: Evaluator) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.calls = 0
        self.positions = 0

    def evaluate(self, planes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        start = time.perf_counter()
        result = self.inner.evaluate(planes)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        self.positions += len(planes)
        return result


@dataclass
class Profile:
    """One profiled bench run.

    :ivar seconds: seconds per component key of :data:`COMPONENTS`; they sum to ``wall``.
    :ivar wall: wall time of the profiled run.
    :ivar nodes: node total (the same as ``engine bench`` at these settings).
    :ivar plain_nps: nodes/second of the same search without instrumentation (the faster of two runs).
    :ivar network_calls: evaluator calls; ``network_positions`` positions went through them.
    """

    seconds: dict[str, float]
    wall: float
    nodes: int
    plain_nps: float
    network_calls: int
    network_positions: int

    @property
    def shares(self) -> dict[str, float]:
        """Percent of the wall time per component."""
        return {key: 100.0 * value / self.wall for key, value in self.seconds.items()}

    @property
    def nps(self) -> float:
        return self.nodes / self.wall


def profile_bench(evaluator: Evaluator, nodes: int, minibatch: int) -> Profile:
    """Run the bench search plain, instrumented and plain again; split the instrumented run's wall time.

    :raises RuntimeError: if the instrumented run's node total differs from the plain runs'.
    """
    bench = BenchSearch(evaluator, minibatch)
    plain_nodes, plain_seconds = _timed_run(bench, nodes)
    timed = TimedEvaluator(evaluator)
    bench.searcher.evaluator = timed
    tree = bench.searcher.tree
    tree.reset_profile()
    tree.profiling = True
    total, wall = _timed_run(bench, nodes)
    tree.profiling = False
    bench.searcher.evaluator = evaluator
    again_nodes, again_seconds = _timed_run(bench, nodes)
    if not total == plain_nodes == again_nodes:
        raise RuntimeError(f"instrumented search visited {total} nodes, the plain ones {plain_nodes}, {again_nodes}")

    seconds = dict(tree.profile)
    seconds["network"] = timed.seconds
    seconds["other"] = wall - sum(seconds.values())
    return Profile(seconds={key: seconds[key] for key, _ in COMPONENTS}, wall=wall, nodes=total,
                   plain_nps=plain_nodes / min(plain_seconds, again_seconds), network_calls=timed.calls,
                   network_positions=timed.positions)


def _timed_run(bench: BenchSearch, nodes: int) -> tuple[int, float]:
    start = time.perf_counter()
    total = bench.run(nodes)
    return total, max(time.perf_counter() - start, 1e-9)


def format_profile(profile: Profile) -> list[str]:
    """The report lines: one row per component, the total, then nodes and nodes/second."""
    shares = profile.shares
    lines = [f"{'component':<36}{'seconds':>10}{'share':>9}"]
    lines += [f"{label:<36}{profile.seconds[key]:>10.3f}{shares[key]:>8.1f}%" for key, label in COMPONENTS]
    lines += [f"{'total (wall)':<36}{profile.wall:>10.3f}{sum(shares.values()):>8.1f}%", "",
              f"Network calls: {profile.network_calls} "
              f"({profile.network_positions / max(profile.network_calls, 1):.1f} positions per call)",
              f"Nodes searched: {profile.nodes}",
              f"Nodes/second: {int(profile.nps)} (uninstrumented: {int(profile.plain_nps)})"]
    return lines


def main(argv: list[str]) -> int:
    started = start_bench_command("engine profile", __doc__, argv)
    if started is None:
        return 2
    args, evaluator = started
    for line in format_profile(profile_bench(evaluator, args.nodes, args.minibatch)):
        print(line)
    return 0
