"""``engine precision-report``: every run-time precision of one net measured against fp32, in one run.

::

    engine precision-report --net NET [--calib FILE] [--precisions fp32,amp,int8-dynamic,int8-static]
                            [--games N | --sprt [elo0=-50 elo1=0 ...]] [--nodes N] [--tc TC]
                            [--stockfish-elo 1350,1600] [--out DIR | --resume DIR]

Variants: ``fp32``, ``amp`` (bfloat16 autocast on CPU, float16 on CUDA), ``fp16`` (CUDA only) and
``int8-dynamic`` run from the net file itself (ours or an lc0 ``.pb.gz``); ``int8-static`` runs
from a twin calibrated here (PTQ, :func:`engine.nn.quantize.quantize_net`) on ``--calib``
(FEN/EPD/PGN, expanded by random continuations) or on generated positions, unless ``--int8-net``
names one; ``int8-qat`` (the same format, quantization-aware fine-tuning) is built only when
listed. Twins go to ``DIR/nets/``. A precision the device cannot run (int8 on CUDA) is reported
as not available, never run in another precision. Our engine plays as a process,
``ENGINE_CMD --net FILE --precision P`` with ``Threads`` and ``Device`` set, as a user runs it.

Sections, per precision, fp32 the baseline:

* **throughput**: network positions/s per batch size (``--batches``), ratio to fp32, file size and
  peak memory (:mod:`engine.bench.netbench`); **search**: ``engine bench``'s search nodes/s;
* **accuracy**: policy top-1 agreement, KL and WDL error against fp32 on held-out positions
  (``--positions FILE`` or generated), also on the decisive ones (:mod:`engine.nn.netcompare`);
* **suite**: the tactical suite at ``--suite-nodes``: solved positions and ``engine gate``'s
  catastrophic failures (fp32 solves it, the precision does not, and its move loses at least
  ``--catastrophic-swing`` of expected score per the referee);
* **nodes** / **time**: matches against fp32 at equal nodes and at equal time (``--tc``, ``none``
  skips): W-D-L, pentanomial Elo with its 95% interval; ``--sprt`` stops early (default H0 elo =
  -max-elo-loss, H1 elo = 0, logistic; ``--games`` is then the cap);
* **ladder** (``--stockfish-elo``): each precision against Stockfish at each ``UCI_Elo`` (at
  ``--tc``, else at ``--nodes``), rated by maximum likelihood.

Acceptance (thresholds are options): every match scores at least ``--min-score`` (0.45); the Elo at
equal nodes (``--elo-bound``: point estimate or an end of the interval) exceeds -``--max-elo-loss``
(-50), or the SPRT accepted H1; at most ``--max-catastrophic`` (0) catastrophic failures and
``--max-faults`` (0) time losses, illegal moves, crashes and disconnects; and, since a few games
tell little, top-1 agreement of at least ``--min-agreement`` (0.90; 0 disables) on the decisive
held-out positions, which catches a broken twin at once. Exit code 0 when every available
precision passes, 1 when one fails, 2 on usage or setup errors (one line on stderr), 130 when
interrupted.

Output: ``DIR/report.md`` (a table per section, the verdicts), ``DIR/report.json`` (every figure;
the markdown is rendered from it), ``DIR/pgn/*.pgn`` and three plots
(:mod:`engine.precision_report_render`). Each finished section is stored at once in
``DIR/sections/NAME.json`` (atomically) with a fingerprint of what it depends on (net and twin
checksums, settings). Interrupting keeps the finished sections and writes the report so far;
``--resume DIR`` reruns with the stored options (options given again override them) and skips
every section whose fingerprint still matches: a new threshold only re-judges, a new ``--games``
only replays the matches. One progress bar covers the run (its ETA weighs the work roughly).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

DEFAULT_PRECISIONS = "fp32,amp,int8-dynamic,int8-static"
BASELINE = "fp32"
DEFAULT_NODES = 800
DEFAULT_TC = "10+0.1"
DEFAULT_GAMES = 100
SPRT_MAX_GAMES = 1000
DEFAULT_SEARCH_NODES = 400
DEFAULT_HELDOUT = 1000
DEFAULT_THREADS = 1
DEFAULT_MIN_SCORE = 0.45
DEFAULT_MAX_ELO_LOSS = 50.0
DEFAULT_MIN_AGREEMENT = 0.90
RUN_FILE = "run.json"
SECTIONS_DIR = "sections"
EXIT_PASS, EXIT_FAIL, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
HASH_CHUNK = 1 << 20
# Rough relative costs of the work units, for the progress bar's ETA.
GAME_UNITS, SUITE_POSITION_UNITS, BATCH_UNITS, SEARCH_UNITS, ACCURACY_UNITS = 20, 1, 2, 10, 5
PTQ_UNITS, QAT_UNITS_PER_STEP = 20, 0.2


@dataclass(frozen=True)
class Variant:
    """How the engine runs one precision.

    :ivar engine_precision: the engine's ``--precision``.
    :ivar file_precision: the precision of the net file it amounts to (for the file size).
    :ivar twin: ``"ptq"``/``"qat"`` when it needs an int8-static file built from the net, else ``None``.
    :ivar devices: device types that can run it.
    """

    engine_precision: str
    file_precision: str
    twin: str | None
    devices: tuple[str, ...]


VARIANTS = {
    "fp32": Variant("fp32", "fp32", None, ("cpu", "cuda")),
    "amp": Variant("amp", "fp32", None, ("cpu", "cuda")),
    "fp16": Variant("amp", "fp32", None, ("cuda",)),
    "int8-dynamic": Variant("int8-dynamic", "int8-dynamic", None, ("cpu",)),
    "int8-static": Variant("int8-static", "int8-static", "ptq", ("cpu",)),
    "int8-qat": Variant("int8-static", "int8-static", "qat", ("cpu",)),
}
MATCH_SETTINGS = ("games", "sprt", "book", "book_order", "book_start", "book_plies", "seed", "resign", "draw",
                  "maxmoves", "timemargin", "engine_cmd", "option", "threads")
SECTION_SETTINGS: dict[str, tuple[str, ...]] = {
    "build": ("calib", "calib_positions", "position_seed", "qat_steps"),
    "throughput": ("batches", "bench_seconds", "position_seed", "threads"),
    "search": ("search_nodes", "minibatch", "threads"),
    "accuracy": ("positions", "heldout", "calib", "position_seed", "threads"),
    "suite": ("suite", "suite_limit", "suite_nodes", "nodes", "catastrophic_swing", "referee", "engine_cmd",
              "option", "threads"),
    "nodes": ("nodes", *MATCH_SETTINGS),
    "time": ("tc", *MATCH_SETTINGS),
    "ladder": ("tc", "nodes", *(key for key in MATCH_SETTINGS if key != "sprt")),
}
"""The options each section's results depend on (with the device and the nets' checksums)."""


class SetupError(Exception):
    """Bad input or an impossible setup: one line on stderr, exit code 2."""


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def finite(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by ``None`` (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(finite(data), stream, indent=1, allow_nan=False)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


class SectionStore:
    """Finished sections in ``DIR/sections/NAME.json``, each with the fingerprint it was measured under."""

    def __init__(self, out: Path) -> None:
        self.folder = out / SECTIONS_DIR

    def load(self, name: str, fingerprint: dict[str, Any]) -> dict[str, Any] | None:
        path = self.folder / f"{name}.json"
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return stored["data"] if stored.get("fingerprint") == finite(fingerprint) else None

    def save(self, name: str, fingerprint: dict[str, Any], data: dict[str, Any], seconds: float) -> None:
        write_json_atomic(self.folder / f"{name}.json", {"section": name, "fingerprint": fingerprint,
                                                         "seconds": round(seconds, 2), "data": data})


@dataclass
class Task:
    """One section of the run for ``precision``: stored under ``name``, redone when ``fingerprint`` changes."""

    name: str
    precision: str
    label: str
    units: int
    fingerprint: dict[str, Any]
    run: Callable[[], dict[str, Any]]
    reusable: Callable[[dict[str, Any]], bool] = lambda data: True


@dataclass
class Heldout:
    """Held-out positions with fp32's outputs, shared by the accuracy sections."""

    planes: Any
    legal: list[Any]
    policy: Any = None
    wdl: Any = None
    decisive: Any = None


# ------------------------------------------------------------------------------------ the run


@dataclass
class PrecisionReport:
    """The run: validated options, the variants and the tasks that measure them."""

    args: argparse.Namespace
    out: Path
    device: str
    precisions: list[str]
    unavailable: dict[str, str]
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    heldout: Heldout | None = None
    bar: Any = None

    # -- identities and engine specs

    @property
    def candidates(self) -> list[str]:
        return [p for p in self.precisions if p != BASELINE and p not in self.unavailable]

    @property
    def available(self) -> list[str]:
        return [p for p in self.precisions if p not in self.unavailable]

    def net_id(self) -> dict[str, str]:
        return {"path": str(self.args.net), "sha256": self.args.net_sha256}

    def build_settings(self, name: str) -> dict[str, Any]:
        settings = {key: getattr(self.args, key) for key in SECTION_SETTINGS["build"]}
        if VARIANTS[name].twin != "qat":
            settings.pop("qat_steps")
        return {"net": self.net_id(), "method": VARIANTS[name].twin, **settings}

    def given_twin(self, name: str) -> str | None:
        """The ``--int8-net`` file when it stands in for ``name``'s twin."""
        return self.args.int8_net if name == "int8-static" else None

    def identity(self, name: str) -> dict[str, Any]:
        if VARIANTS[name].twin is None:
            return {"net": self.net_id(), "precision": VARIANTS[name].engine_precision}
        if self.given_twin(name):
            return {"twin": str(self.args.int8_net), "sha256": self.args.int8_sha256}
        return {"twin": self.build_settings(name)}

    def fingerprint(self, section: str, name: str, **extra: Any) -> dict[str, Any]:
        settings = {key: getattr(self.args, key) for key in SECTION_SETTINGS[section]}
        return {"variant": self.identity(name), "baseline": self.identity(BASELINE), "device": self.device,
                "settings": settings, **extra}

    def engine_file(self, name: str) -> str:
        """The net file the engine runs ``name`` from (a twin must be built first)."""
        if VARIANTS[name].twin is None:
            return str(self.args.net)
        return str(self.given_twin(name) or self.results[f"build-{name}"]["file"])

    def engine_spec(self, name: str) -> Any:
        from engine.arena.gate import our_engine_spec

        options = [f"Threads={self.args.threads}", f"Device={self.device}", *self.args.option]
        return our_engine_spec(self.engine_file(name), self.args.engine_cmd, VARIANTS[name].engine_precision,
                               name, options)

    def evaluator(self, name: str) -> Any:
        from engine.nn.evaluator import load_evaluator

        return load_evaluator(self.engine_file(name), precision=VARIANTS[name].engine_precision,
                              device=self.device, threads=self.args.threads)

    # -- the plan

    def tasks(self) -> list[Task]:
        """Every section of the run, in order: twins, in-process measurements, then games."""
        args = self.args
        tasks: list[Task] = []
        for name in self.available:
            twin = VARIANTS[name].twin
            if twin is not None and not self.given_twin(name):
                units = PTQ_UNITS + (int(QAT_UNITS_PER_STEP * args.qat_steps) if twin == "qat" else 0)
                tasks.append(Task(f"build-{name}", name, f"building {name}", units, self.build_settings(name),
                                  lambda name=name: self.build_twin(name),
                                  lambda data: Path(data["file"]).is_file()))
        for name in self.available:
            tasks.append(Task(f"throughput-{name}", name, f"throughput {name}", BATCH_UNITS * len(args.batch_sizes),
                              self.fingerprint("throughput", name), lambda name=name: self.measure_throughput(name)))
            tasks.append(Task(f"search-{name}", name, f"search {name}", SEARCH_UNITS, self.fingerprint("search", name),
                              lambda name=name: self.measure_search(name)))
        for name in self.candidates:
            tasks.append(Task(f"accuracy-{name}", name, f"accuracy {name}", ACCURACY_UNITS,
                              self.fingerprint("accuracy", name), lambda name=name: self.measure_accuracy(name)))
        if args.suite.lower() != "none":
            for name in self.candidates:
                tasks.append(Task(f"suite-{name}", name, f"suite {name}", SUITE_POSITION_UNITS * args.suite_count,
                                  self.fingerprint("suite", name), lambda name=name: self.run_suite(name)))
        for kind in ("nodes", "time"):
            if kind == "time" and args.time_limit is None:
                continue
            for name in self.candidates:
                tasks.append(Task(f"{kind}-{name}", name, f"{kind} {name} vs fp32", GAME_UNITS * args.match_games,
                                  self.fingerprint(kind, name),
                                  lambda name=name, kind=kind: self.play_fp32(name, kind)))
        for name in self.available:
            for elo in args.stockfish_elo:
                tasks.append(Task(f"ladder-{name}-{elo}", name, f"{name} vs stockfish {elo}",
                                  GAME_UNITS * (args.games or DEFAULT_GAMES),
                                  self.fingerprint("ladder", name, elo=elo),
                                  lambda name=name, elo=elo: self.play_stockfish(name, elo)))
        return tasks

    def execute(self) -> None:
        """Run every task not stored yet (storing each as it finishes), under one progress bar."""
        from tqdm import tqdm

        store = SectionStore(self.out)
        pending: list[Task] = []
        for task in self.tasks():
            data = store.load(task.name, task.fingerprint)
            if data is not None and task.reusable(data):
                self.results[task.name] = data
            else:
                pending.append(task)
        kept = len(self.results)
        if kept:
            self.note(f"resuming: {kept} finished sections kept, {len(pending)} to measure")
        self.bar = tqdm(total=sum(task.units for task in pending), file=sys.stderr, dynamic_ncols=True,
                        desc=pending[0].label if pending else "", disable=self.args.quiet or not pending,
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}{postfix}")
        try:
            for task in pending:
                self.bar.set_description_str(task.label)
                before = self.bar.n
                started = time.monotonic()
                data = task.run()
                store.save(task.name, task.fingerprint, data, time.monotonic() - started)
                self.results[task.name] = data
                self.bar.update(max(0, before + task.units - self.bar.n))
                self.bar.set_postfix_str("")
        finally:
            self.bar.close()

    def note(self, text: str) -> None:
        from tqdm import tqdm

        tqdm.write(f"precision-report: {text}", file=sys.stderr)

    # -- sections

    def calibration_boards(self) -> list[Any]:
        from engine.nn.positions import expand_positions, generate_positions, read_positions

        args = self.args
        if args.calib:
            return expand_positions(read_positions(args.calib), args.calib_positions, seed=args.position_seed)
        return generate_positions(args.calib_positions, seed=args.position_seed)

    def build_twin(self, name: str) -> dict[str, Any]:
        from engine.nn.loader import read_net_file
        from engine.nn.model import ChessNet
        from engine.nn.netfile import build_metadata, instantiate, save_net
        from engine.nn.quantize import quantize_net

        args = self.args
        mode = "qat" if VARIANTS[name].twin == "qat" else "int8-static"
        net_file = read_net_file(args.net)
        started = time.monotonic()
        net = instantiate(net_file)
        assert isinstance(net, ChessNet)
        quantized = quantize_net(net, mode, self.calibration_boards(), args.calib or "generated positions",
                                 qat_steps=args.qat_steps, seed=args.position_seed, progress=False)
        info = quantized.info
        path = self.out / "nets" / f"{Path(args.net).name.split('.')[0]}-{name}.pt"
        provenance = {"derived_from": str(args.net), "quantization_mode": mode,
                      "command": f"engine precision-report (twin {name})"}
        save_net(path, quantized.module, build_metadata(net_file.config, quantized.precision, info, provenance),
                 onnx_model=quantized.onnx_model)
        return {"file": str(path), "method": VARIANTS[name].twin, "calibration": info.get("calibration"),
                "seconds": time.monotonic() - started, "sha256": sha256_of(path)}

    def measure_throughput(self, name: str) -> dict[str, Any]:
        from engine.bench.netbench import BYTES_PER_MB, file_size_mb, peak_memory_mb, reset_peak_memory, time_batches
        from engine.nn.positions import encode_positions, generate_positions

        args = self.args
        evaluator = self.evaluator(name)
        planes = encode_positions(generate_positions(max(args.batch_sizes), seed=args.position_seed + 1))
        reset_peak_memory(evaluator.device)
        rows = []
        for batch in args.batch_sizes:
            seconds, runs = time_batches(evaluator, planes[:batch], args.bench_seconds)
            rows.append({"batch": batch, "positions_per_s": batch / seconds, "latency_ms": 1000 * seconds,
                         "runs": runs})
            self.bar.update(BATCH_UNITS)
        file_mb = (os.path.getsize(self.engine_file(name)) / BYTES_PER_MB if VARIANTS[name].twin
                   else file_size_mb(evaluator.model, evaluator.config, VARIANTS[name].file_precision, None))
        return {"rows": rows, "peak_mb": peak_memory_mb(evaluator.device), "file_mb": file_mb,
                "describe": evaluator.describe()}

    def measure_search(self, name: str) -> dict[str, Any]:
        import numpy as np

        from cython_ext.encoding import NUM_INPUT_PLANES
        from engine.bench.bench import BENCH_POSITIONS, BenchSearch

        args = self.args
        evaluator = self.evaluator(name)
        evaluator.evaluate(np.zeros((args.minibatch, NUM_INPUT_PLANES, 8, 8), dtype=np.float32))
        started = time.perf_counter()
        nodes = BenchSearch(evaluator, args.minibatch).run(args.search_nodes)
        seconds = max(time.perf_counter() - started, 1e-9)
        return {"positions": len(BENCH_POSITIONS), "nodes_per_position": args.search_nodes, "nodes": nodes,
                "seconds": seconds, "nps": nodes / seconds}

    def heldout_outputs(self) -> Heldout:
        """The held-out positions and fp32's outputs on them (computed once)."""
        if self.heldout is None:
            from cython_ext.encoding import legal_policy
            from engine.nn.netcompare import decisive_mask, evaluate_all
            from engine.nn.positions import encode_positions, generate_positions, read_positions
            from engine.nn.quantize import VALIDATION_SEED_OFFSET

            args = self.args
            if args.positions:
                boards = read_positions(args.positions, limit=args.heldout)
            else:
                starts = read_positions(args.calib) if args.calib else None
                boards = generate_positions(args.heldout, seed=args.position_seed + VALIDATION_SEED_OFFSET,
                                            starts=starts)
            boards = [board for board in boards if board.legal_moves]
            held = Heldout(encode_positions(boards), [legal_policy(board)[1] for board in boards])
            held.policy, held.wdl = evaluate_all(self.evaluator(BASELINE), held.planes)
            held.decisive = decisive_mask(held.policy, held.legal)
            self.heldout = held
        return self.heldout

    def measure_accuracy(self, name: str) -> dict[str, Any]:
        import numpy as np

        from engine.nn.netcompare import compare_outputs, evaluate_all

        held = self.heldout_outputs()
        policy, wdl = evaluate_all(self.evaluator(name), held.planes)
        result = {"all": asdict(compare_outputs(held.policy, held.wdl, policy, wdl, held.legal)), "decisive": None}
        rows = np.flatnonzero(held.decisive)
        if len(rows):
            result["decisive"] = asdict(compare_outputs(held.policy[rows], held.wdl[rows], policy[rows], wdl[rows],
                                                        [held.legal[row] for row in rows]))
        return result

    def run_suite(self, name: str) -> dict[str, Any]:
        from engine.arena.gate import load_suite, run_suite_async
        from engine.arena.specs import parse_engine_spec

        args = self.args
        positions = load_suite(Path(args.suite), args.suite_limit)
        baseline = self.engine_spec(BASELINE)
        referee = baseline if args.referee == BASELINE else parse_engine_spec(["stockfish"])
        rows = asyncio.run(run_suite_async(positions, self.engine_spec(name), baseline, referee,
                                           args.suite_search_nodes, args.catastrophic_swing, args.move_timeout,
                                           args.startup_timeout))
        differences = []
        for row in rows:
            assert row.baseline is not None
            solved, base_solved = row.position.solved_by(row.candidate.move), row.position.solved_by(row.baseline.move)
            if solved != base_solved:
                differences.append({"id": row.position.ident, "solution": sorted(row.position.best),
                                    "move": row.candidate.move or row.candidate.error, "score": row.candidate.score,
                                    "fp32_move": row.baseline.move or row.baseline.error,
                                    "solved_by": name if solved else BASELINE, "swing": row.swing,
                                    "catastrophic": row.catastrophic})
        return {"positions": len(rows), "nodes": args.suite_search_nodes,
                "solved": sum(row.position.solved_by(row.candidate.move) for row in rows),
                "fp32_solved": sum(row.position.solved_by(row.baseline.move if row.baseline else None)
                                   for row in rows),
                "catastrophic": sum(row.catastrophic for row in rows), "differences": differences}

    def play(self, first: Any, second: Any, limit: Any, label: str, pgn: str, games: int,
             sprt: Any = None) -> dict[str, Any]:
        """A match (first = the precision measured), its figures, its PGN in ``DIR/pgn``."""
        from engine.arena.gate import with_limit
        from engine.arena.match import config_from_args, run_match
        from engine.arena.records import MatchResult

        args = self.args
        config = config_from_args(args, (with_limit(first, limit), with_limit(second, limit)), games,
                                  self.out / "pgn" / pgn, sprt, f"engine precision-report: {label}")

        def on_game(result: MatchResult) -> None:
            self.bar.update(GAME_UNITS)
            self.bar.set_postfix_str(result.progress_text())

        result = run_match(replace(config, progress=False), on_game=on_game)
        estimate = result.estimate()
        llr = result.llr()
        sprt = None
        if result.sprt is not None and llr is not None:
            sprt = {"test": result.sprt.describe(), "llr": llr, "state": result.sprt.state(llr)}
        return {"opponent": result.b, "limit": limit.describe(), "games": result.played, "wins": result.wins,
                "draws": result.draws, "losses": result.losses, "pentanomial": result.pentanomial(),
                "score": estimate.score, "elo": estimate.elo, "elo_lower": estimate.elo_lower,
                "elo_upper": estimate.elo_upper, "los": estimate.los, "nelo": estimate.nelo, "sprt": sprt,
                "faults": result.faults()[result.a], "pgn": f"pgn/{pgn}"}

    def play_fp32(self, name: str, kind: str) -> dict[str, Any]:
        limit = self.args.node_limit if kind == "nodes" else self.args.time_limit
        return self.play(self.engine_spec(name), self.engine_spec(BASELINE), limit, f"{name} vs fp32, {kind}",
                         f"{name}-vs-fp32-{kind}.pgn", self.args.match_games, self.args.sprt_test)

    def play_stockfish(self, name: str, elo: int) -> dict[str, Any]:
        from engine.arena.specs import parse_engine_spec

        args = self.args
        limit = args.time_limit or args.node_limit
        figures = self.play(self.engine_spec(name), parse_engine_spec(["stockfish", f"elo={elo}"]), limit,
                            f"{name} vs stockfish {elo}", f"{name}-vs-stockfish{elo}.pgn", args.games or DEFAULT_GAMES)
        return {**figures, "uci_elo": elo}


# ------------------------------------------------------------------------------- the report


def assemble(run: PrecisionReport, commands: list[str], complete: bool) -> dict[str, Any]:
    """Every figure of the run (stored sections only), with ratios, ratings and verdicts."""
    from engine.arena.stats import rating_mle
    from engine.precision_report_render import THRESHOLDS, verdict

    args, results = run.args, run.results
    thresholds = {key: getattr(args, key) for key in THRESHOLDS}
    base_rates = {row["batch"]: row["positions_per_s"]
                  for row in (results.get(f"throughput-{BASELINE}") or {}).get("rows", [])}
    base_nps = (results.get(f"search-{BASELINE}") or {}).get("nps")
    tasks = run.tasks()
    entries: dict[str, Any] = {}
    for name in run.precisions:
        variant = VARIANTS[name]
        build = results.get(f"build-{name}")
        runnable = name not in run.unavailable and (variant.twin is None or build or run.given_twin(name))
        entry: dict[str, Any] = {"engine_precision": variant.engine_precision, "available": name not in run.unavailable,
                                 "reason": run.unavailable.get(name), "build": build,
                                 "file": run.engine_file(name) if runnable else None}
        throughput = results.get(f"throughput-{name}")
        if throughput is not None:
            throughput = {**throughput, "rows": [
                {**row, "ratio_to_fp32": row["positions_per_s"] / base_rates[row["batch"]]
                 if row["batch"] in base_rates else None} for row in throughput["rows"]]}
        search = results.get(f"search-{name}")
        if search is not None:
            search = {**search, "ratio_to_fp32": search["nps"] / base_nps if base_nps else None}
        entry.update(throughput=throughput, search=search, accuracy=results.get(f"accuracy-{name}"),
                     suite=results.get(f"suite-{name}"),
                     matches={kind: results[f"{kind}-{name}"] for kind in ("nodes", "time")
                              if f"{kind}-{name}" in results})
        ladder = [results[f"ladder-{name}-{elo}"] for elo in args.stockfish_elo if f"ladder-{name}-{elo}" in results]
        rating = None
        if any(match["games"] for match in ladder):
            played = [match for match in ladder if match["games"]]
            estimate = rating_mle([m["uci_elo"] for m in played], [m["score"] for m in played],
                                  [m["games"] for m in played])
            rating = asdict(estimate)
        entry["ladder"] = {"opponents": ladder, "rating": rating} if ladder else None
        missing = [task.name for task in tasks if task.precision == name and task.name not in results]
        entry["verdict"] = verdict(entry, thresholds, baseline=name == BASELINE, missing=missing)
        entries[name] = entry
    failed = any(entry["verdict"]["status"] == "FAIL" for entry in entries.values())
    return {"commands": commands, "updated": time.strftime("%Y-%m-%d %H:%M:%S"), "complete": complete,
            "net": {"path": str(args.net), "sha256": args.net_sha256, "architecture": args.net_arch},
            "device": run.device, "threads": args.threads, "torch": args.torch_version,
            "settings": {key: getattr(args, key) for key in sorted({k for keys in SECTION_SETTINGS.values()
                                                                      for k in keys} | {"int8_net", "device"})},
            "thresholds": thresholds, "precisions": entries,
            "missing": [task.name for task in tasks if task.name not in results],
            "exit_code": (EXIT_FAIL if failed else EXIT_PASS) if complete else None}


# ------------------------------------------------------------------------------- options


def _csv(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def build_parser() -> argparse.ArgumentParser:
    from engine.arena.gate import DEFAULT_SUITE, DEFAULT_SWING, ELO_BOUNDS, elo_list
    from engine.arena.match import add_common_arguments
    from engine.bench.netbench import DEFAULT_BATCHES, DEFAULT_MIN_SECONDS
    from engine.nn.quantize import DEFAULT_CALIBRATION_POSITIONS, DEFAULT_QAT_STEPS

    parser = argparse.ArgumentParser(prog="engine precision-report", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    what = parser.add_argument_group("net and precisions")
    what.add_argument("--net", help="the fp32 net: ours (.pt) or lc0 (.pb.gz)")
    what.add_argument("--precisions", default=DEFAULT_PRECISIONS,
                      help=f"comma-separated, from {', '.join(VARIANTS)} (default %(default)s; fp32 always runs)")
    what.add_argument("--calib", help="FEN/EPD or PGN positions to calibrate int8 twins on (default: generated)")
    what.add_argument("--calib-positions", type=int, default=DEFAULT_CALIBRATION_POSITIONS)
    what.add_argument("--int8-net", help="an existing int8-static twin (engine quantize) instead of calibrating one")
    what.add_argument("--qat-steps", type=int, default=DEFAULT_QAT_STEPS, help="QAT steps (int8-qat)")
    what.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    what.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                      help="torch threads here and Threads of each engine (default %(default)s)")
    what.add_argument("--position-seed", type=int, default=0, help="seed of generated positions")
    measure = parser.add_argument_group("measurements")
    measure.add_argument("--batches", default=DEFAULT_BATCHES, help="throughput batch sizes (default %(default)s)")
    measure.add_argument("--bench-seconds", type=float, default=DEFAULT_MIN_SECONDS, help="minimum time per batch size")
    measure.add_argument("--search-nodes", type=int, default=DEFAULT_SEARCH_NODES,
                         help="nodes per bench position for search nodes/s (default %(default)s)")
    measure.add_argument("--minibatch", type=int, default=32, help="leaves per network call in the search")
    measure.add_argument("--positions", help="held-out FEN/EPD or PGN positions (default: generated)")
    measure.add_argument("--heldout", type=int, default=DEFAULT_HELDOUT, help="held-out positions (at most)")
    measure.add_argument("--suite", default=str(DEFAULT_SUITE), help="EPD tactical suite ('none' to skip)")
    measure.add_argument("--suite-nodes", type=int, help="nodes per suite position (default --nodes)")
    measure.add_argument("--suite-limit", type=int, help="only the first N suite positions")
    measure.add_argument("--referee", choices=(BASELINE, "stockfish"), default=BASELINE,
                         help="engine that measures the swing of a missed solution")
    measure.add_argument("--catastrophic-swing", type=float, default=DEFAULT_SWING)
    play = parser.add_argument_group("games")
    play.add_argument("--games", type=int, help=f"games per match (default {DEFAULT_GAMES}; with --sprt the "
                                                f"cap, default {SPRT_MAX_GAMES})")
    play.add_argument("--sprt", nargs="*", metavar="KEY=VALUE",
                      help="stop matches early: elo0= elo1= alpha= beta= model= (default elo0=-max-elo-loss "
                           "elo1=0 model=logistic)")
    play.add_argument("--nodes", type=int, default=DEFAULT_NODES, help="equal-nodes matches (default %(default)s)")
    play.add_argument("--tc", default=DEFAULT_TC, help="equal-time matches, e.g. 10+0.1 ('none' to skip)")
    play.add_argument("--stockfish-elo", type=elo_list, default=[],
                      help="Stockfish ladder: UCI_Elo values, e.g. 1350,1600,1800")
    play.add_argument("--engine-cmd", default=shlex.join([sys.executable, "-m", "engine"]),
                      help="our engine's command (default: this Python's engine)")
    play.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                      help="UCI option for our engines (repeatable)")
    accept = parser.add_argument_group("acceptance")
    accept.add_argument("--min-score", type=float, default=DEFAULT_MIN_SCORE)
    accept.add_argument("--max-elo-loss", type=float, default=DEFAULT_MAX_ELO_LOSS)
    accept.add_argument("--elo-bound", choices=ELO_BOUNDS, default="point")
    accept.add_argument("--max-catastrophic", type=int, default=0)
    accept.add_argument("--max-faults", type=int, default=0)
    accept.add_argument("--min-agreement", type=float, default=DEFAULT_MIN_AGREEMENT,
                        help="top-1 agreement on decisive held-out positions (0: no check)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--out", help="output directory (default runs/precision-TIMESTAMP)")
    where.add_argument("--resume", metavar="DIR", help="continue the run in DIR with its stored options")
    add_common_arguments(parser)
    return parser


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    """Parsed options; with ``--resume DIR`` the stored ones are the defaults.

    :raises SetupError: a resume folder without a run.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.resume:
        try:
            stored = json.loads((Path(args.resume) / RUN_FILE).read_text())["args"]
        except (OSError, ValueError, KeyError):
            raise SetupError(f"{args.resume}: no precision-report run to resume (no readable {RUN_FILE})") from None
        parser.set_defaults(**{key: value for key, value in stored.items() if key not in ("out", "resume")})
        args = parser.parse_args(argv)
        args.out = args.resume
    return args


def prepare(args: argparse.Namespace) -> PrecisionReport:
    """Validate the options and the inputs; derived settings go onto ``args``.

    :raises SetupError: with a one-line reason.
    """
    import torch

    from engine.arena.gate import load_suite
    from engine.arena.match import parse_rule_tokens, sprt_from_tokens
    from engine.arena.specs import MatchError, SearchLimit, find_stockfish, parse_engine_spec
    from engine.nn import quantization
    from engine.nn.evaluator import resolve_device
    from engine.nn.loader import read_net_file
    from engine.nn.netfile import NetFileError
    from engine.nn.positions import read_positions

    if not args.net:
        raise SetupError("give --net NET (the fp32 net) or --resume DIR")
    precisions = list(dict.fromkeys([BASELINE, *_csv(args.precisions)]))
    unknown = [name for name in precisions if name not in VARIANTS]
    if unknown:
        raise SetupError(f"unknown precision {unknown[0]!r}; choose from {', '.join(VARIANTS)}")
    try:
        device = resolve_device(args.device).type
    except NetFileError as error:
        raise SetupError(f"{error} (use --device cpu)") from None
    for name in precisions:
        if VARIANTS[name].devices == ("cuda",) and device != "cuda":
            reason = "this machine has no CUDA device" if not torch.cuda.is_available() else "--device is cpu"
            raise SetupError(f"{name} runs on CUDA only and {reason} (amp runs bfloat16 on CPU)")
    try:
        net_file = read_net_file(args.net)
        if net_file.precision != BASELINE:
            raise SetupError(f"{args.net} holds {net_file.precision} weights; give the fp32 net it was made from "
                             f"(an int8-static twin goes to --int8-net)")
        if args.int8_net:
            twin = read_net_file(args.int8_net)
            if twin.precision != "int8-static" or twin.config != net_file.config:
                raise SetupError(f"{args.int8_net} is {twin.config.name} {twin.precision}, not an int8-static twin "
                                 f"of the {net_file.config.name} net")
    except NetFileError as error:
        raise SetupError(str(error)) from None
    for option, path in (("--calib", args.calib), ("--positions", args.positions)):
        if path and (not os.path.isfile(path) or not read_positions(path, limit=1)):
            raise SetupError(f"{option} {path}: no such file or no usable positions")
    try:
        args.batch_sizes = [int(value) for value in _csv(args.batches)]
    except ValueError:
        raise SetupError(f"--batches {args.batches!r}: expected comma-separated integers") from None
    if min(args.batch_sizes, default=0) < 1 or args.nodes < 1 or (args.games is not None and args.games < 1):
        raise SetupError("--batches, --nodes and --games must be positive")
    try:
        args.suite_count = len(load_suite(Path(args.suite), args.suite_limit)) if args.suite.lower() != "none" else 0
        args.node_limit = SearchLimit(nodes=args.nodes)
        args.time_limit = None if args.tc.lower() == "none" else parse_engine_spec(["cmd=x", f"tc={args.tc}"]).limit
        args.sprt_test = None
        if args.sprt is not None:
            tokens = {"elo0": f"{-args.max_elo_loss:g}", "elo1": "0", "model": "logistic",
                      **parse_rule_tokens(args.sprt, ("elo0", "elo1", "alpha", "beta", "model"))}
            args.sprt_test = sprt_from_tokens([f"{key}={value}" for key, value in tokens.items()])
    except (MatchError, OSError) as error:
        raise SetupError(str(error)) from None
    if (args.stockfish_elo or args.referee == "stockfish") and find_stockfish() is None:
        raise SetupError("stockfish not found (apt-get install stockfish), needed by --stockfish-elo/--referee")
    args.suite_search_nodes = args.suite_nodes or args.nodes
    args.match_games = args.games or (SPRT_MAX_GAMES if args.sprt_test else DEFAULT_GAMES)
    args.net_sha256, args.net_arch = sha256_of(args.net), net_file.config.name
    args.int8_sha256 = sha256_of(args.int8_net) if args.int8_net else None
    args.torch_version = torch.__version__
    unavailable = {}
    for name in precisions:
        if device not in VARIANTS[name].devices:
            unavailable[name] = f"not available on {device} (torch's int8 kernels run on CPU only)"
        elif name.startswith("int8"):
            try:
                quantization.require_int8_engine()
            except quantization.QuantizationUnavailable as error:
                unavailable[name] = str(error)
    out = Path(args.out or f"runs/precision-{time.strftime('%Y%m%d-%H%M%S')}")
    return PrecisionReport(args=args, out=out, device=device, precisions=precisions, unavailable=unavailable)


def write_outputs(run: PrecisionReport, commands: list[str], complete: bool) -> dict[str, Any]:
    """report.json, report.md and the plots from the stored sections."""
    from engine.precision_report_render import render_markdown, write_plots

    report = assemble(run, commands, complete)
    write_json_atomic(run.out / "report.json", report)
    (run.out / "report.md").write_text(render_markdown(report))
    write_plots(report, run.out)
    return report


def main(argv: list[str]) -> int:
    """Entry point: 0 every available precision passes, 1 one fails, 2 usage/setup error, 130 interrupted."""
    from engine.arena.specs import MatchError
    from engine.nn.netfile import NetFileError

    try:
        args = parse_arguments(argv)
        options = {key: value for key, value in vars(args).items() if key != "resume"}
        run = prepare(args)
    except SystemExit as exc:
        return EXIT_PASS if exc.code == 0 else EXIT_ERROR
    except SetupError as error:
        print(f"precision-report: {error}", file=sys.stderr)
        return EXIT_ERROR
    from engine.nn.evaluator import set_threads

    set_threads(args.threads)
    commands = ["engine precision-report " + shlex.join(argv)]
    if args.resume:
        commands = json.loads((run.out / RUN_FILE).read_text()).get("commands", []) + commands
    run.out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(run.out / RUN_FILE, {"commands": commands, "args": options})
    for name, reason in run.unavailable.items():
        run.note(f"{name}: {reason}")
    try:
        run.execute()
    except KeyboardInterrupt:
        write_outputs(run, commands, complete=False)
        print(f"precision-report: interrupted; {len(run.results)} finished sections kept; continue with "
              f"engine precision-report --resume {run.out}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (MatchError, NetFileError) as error:
        write_outputs(run, commands, complete=False)
        print(f"precision-report: {error}", file=sys.stderr)
        return EXIT_ERROR
    report = write_outputs(run, commands, complete=True)
    for name, entry in report["precisions"].items():
        verdict = entry["verdict"]
        print(f"{verdict['status']:<8} {name}: {verdict['reason']}")
    print(f"report: {run.out / 'report.md'}")
    return report["exit_code"]
