"""``engine selfplay``: the self-play reinforcement-learning loop in one run directory.

Each generation: the actors play ``--games-per-generation`` games with the current best net
(through the batched inference server), the trainer trains a candidate from the replay window,
the candidate plays the best at equal nodes and is promoted if it passes, and (with
``--gate-eval-games``) it plays the run's fixed reference, the start net, for the Elo curve.

Run directory::

    config.json     the configuration (every flag; --resume reads it back)
    state.json      the generations done, the best net, the phase in progress
    nets/           gen-000.pt (the start net), gen-001.pt ... (every candidate)
    buffer/         the replay buffer (datagen shard format, manifest.json)
    train/gen-NNN/  each generation's training run (checkpoint, metrics, curves)
    games/          the gate and reference games (PGN)
    metrics.csv     one row per generation; selfplay.png draws it

``--resume DIR`` continues a stopped or killed run: finished games are in the buffer (a phase
owes only the games it lacks), a training resumes from its checkpoint, a gate interrupted midway
is replayed. ``--ray`` runs the actors and the server as Ray actors (see
:mod:`engine.selfplay.ray_pool`).

Example::

    engine selfplay --run runs/sp1 --init nets/default.pt --generations 3 --games-per-generation 200
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import pathlib
import shutil
import sys
import time
from typing import Any

from engine.selfplay import config as configuration
from engine.selfplay.config import ConfigError, RunConfig
from engine.selfplay.replay import SHARD_PATTERN, ReplayBuffer

CONFIG_NAME = "config.json"
STATE_NAME = "state.json"
METRICS_NAME = "metrics.csv"
PLOT_NAME = "selfplay.png"
RUN_FILES = (CONFIG_NAME, STATE_NAME)
METRIC_FIELDS = ("generation", "games", "positions", "selfplay_s", "games_per_hour", "positions_per_s",
                 "mean_batch", "time_state", "time_encoding", "time_tree", "time_network", "time_wait_ipc",
                 "time_actor_python", "resigned", "playthroughs", "would_resign", "resign_false_positives",
                 "train_s", "window_positions", "val_policy_loss", "val_value_loss", "val_top1",
                 "gate", "gate_score", "gate_elo", "gate_elo_error", "promoted", "best",
                 "elo_vs_reference", "elo_source", "actor_restarts")
EXIT_OK, EXIT_ERROR, EXIT_INTERRUPTED = 0, 2, 130


def net_path(run: pathlib.Path, generation: int) -> pathlib.Path:
    return run / "nets" / f"gen-{generation:03d}.pt"


# ---------------------------------------------------------------------- state


def read_state(run: pathlib.Path) -> dict[str, Any]:
    path = run / STATE_NAME
    if not path.exists():
        return {"completed": 0, "best": 0, "best_elo": 0.0, "phase": "selfplay", "phase_data": {}, "history": []}
    return json.loads(path.read_text())


def write_state(run: pathlib.Path, state: dict[str, Any]) -> None:
    temporary = run / (STATE_NAME + ".tmp")
    temporary.write_text(json.dumps(state, indent=1))
    temporary.replace(run / STATE_NAME)


def prepare_run(run: pathlib.Path, config: RunConfig, resume: bool, given: list[str]) -> RunConfig:
    """Create a new run directory or check the one to resume; returns the run's configuration."""
    stored_path = run / CONFIG_NAME
    if resume:
        if not stored_path.exists():
            raise ConfigError(f"--resume {run}: not a self-play run directory (no {CONFIG_NAME})")
        stored = configuration.read(stored_path)
        stored_dict = stored.to_dict()
        current = config.to_dict()
        for name in given:
            section, _, key = name.partition(".")
            new = current[section][key] if key else current[section]
            old = stored_dict[section][key] if key else stored_dict[section]
            if name != "generations" and new != old:
                raise ConfigError(f"--resume {run}: {name} is {old!r} in this run, not {new!r}")
        if "generations" in given:
            stored.generations = config.generations
            configuration.write(stored, stored_path)
        return stored
    if run.exists() and any(run.iterdir()):
        if stored_path.exists():
            raise ConfigError(f"{run} already holds a self-play run; use --resume {run} or another --run")
        raise ConfigError(f"{run} is not empty and not a self-play run directory; use another --run")
    (run / "nets").mkdir(parents=True, exist_ok=True)
    start = net_path(run, 0)
    if config.init:
        from engine.nn.loader import read_net_file

        net_file = read_net_file(config.init)  # NetFileError on a bad file, before anything starts
        if net_file.precision != "fp32":
            raise ConfigError(f"--init {config.init} holds {net_file.precision} weights; self-play needs an fp32 net")
        if pathlib.Path(config.init).suffix == ".pt":
            shutil.copyfile(config.init, start)
        else:
            from engine.nn.netfile import build_metadata, instantiate, save_net

            save_net(start, instantiate(net_file).float(), build_metadata(net_file.config, "fp32"))
    else:
        from engine.nn.model import NetConfig, random_net
        from engine.nn.netfile import build_metadata, save_net

        net_config = NetConfig.from_arch(config.arch)
        save_net(start, random_net(net_config, seed=config.actor.seed), build_metadata(net_config, "fp32"))
    configuration.write(config, stored_path)
    return config


# ------------------------------------------------------------------- the loop


class Run:
    """One run directory driven generation by generation."""

    def __init__(self, run: pathlib.Path, config: RunConfig, ray_address: str | None, progress: bool,
                 deadline: float | None) -> None:
        self.run = run
        self.config = config
        self.state = read_state(run)
        self.buffer = ReplayBuffer(run / "buffer", config.buffer.window)
        self.buffer.refresh()
        self.progress = progress
        self.deadline = deadline
        self.ray_address = ray_address
        self.pool: Any = None
        (run / "games").mkdir(exist_ok=True)

    # -- pool

    def _first_games(self) -> list[int]:
        counts = [0] * self.config.actor.actors
        for shard in self.buffer.shards:
            match = SHARD_PATTERN.match(shard["file"])
            if match and int(match.group(1)) < len(counts):
                counts[int(match.group(1))] += shard["games"]
        return counts

    def _open_pool(self) -> None:
        best = str(net_path(self.run, self.state["best"]))
        if self.ray_address is not None:
            from engine.selfplay.ray_pool import RayPool

            self.pool = RayPool(self.config, self.buffer.folder, best, self._first_games(), self.ray_address)
        else:
            from engine.selfplay.local import LocalPool

            self.pool = LocalPool(self.config, self.buffer.folder, best, self._first_games())
        self._say(f"inference server: {self.pool.description}")

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    def _say(self, text: str) -> None:
        print(f"[selfplay] {text}", file=sys.stderr, flush=True)

    def _out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    # -- generations

    def execute(self) -> bool:
        """Run until ``generations`` are done (True) or the time limit stops it (False)."""
        while self.state["completed"] < self.config.generations:
            generation = self.state["completed"] + 1
            phase = self.state["phase"]
            if self._out_of_time():
                return False
            if phase == "selfplay":
                if not self._selfplay(generation):
                    return False
                self._advance("train")
            elif phase == "train":
                self._train(generation)
                self._advance("gate")
            elif phase == "gate":
                self._gate(generation)
                self._advance("eval")
            elif phase == "eval":
                self._evaluate(generation)
                self._finish_generation(generation)
        return True

    def _advance(self, phase: str) -> None:
        self.state["phase"] = phase
        write_state(self.run, self.state)

    def _selfplay(self, generation: int) -> bool:
        config = self.config
        self.buffer.refresh()
        owed = config.games_per_generation - self.buffer.games(generation)
        data = self.state["phase_data"]
        data.setdefault("selfplay", {"seconds": 0.0, "games": 0, "positions": 0, "stats": {}, "server": {},
                                     "restarts": 0})
        record = data["selfplay"]
        if owed <= 0:
            return True
        if self.pool is None:
            self._open_pool()
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=config.games_per_generation, initial=config.games_per_generation - owed,
                       unit="game", desc=f"gen {generation} self-play", dynamic_ncols=True)
        started = time.monotonic()
        counters = {"games": 0, "positions": 0}
        last_gate = self.state["history"][-1]["gate"] if self.state["history"] else "-"

        def on_game(summary: dict[str, Any]) -> None:
            counters["games"] += 1
            counters["positions"] += summary["positions"]
            if bar is not None:
                elapsed = max(time.monotonic() - started, 1e-6)
                bar.update(1)
                bar.set_postfix_str(f"{counters['positions'] / elapsed:.0f} pos/s, buffer "
                                    f"{self.buffer.positions() + counters['positions']} pos, best gen "
                                    f"{self.state['best']}, last gate {last_gate}")

        server_before = self.pool.server_stats()
        restarts_before = self.pool.restarts
        stats = self.pool.play(owed, generation, on_game, self.deadline)
        server_after = self.pool.server_stats()
        if bar is not None:
            bar.close()
        record["seconds"] += time.monotonic() - started
        record["games"] += counters["games"]
        record["positions"] += counters["positions"]
        record["restarts"] += self.pool.restarts - restarts_before
        _accumulate(record["stats"], stats)
        _accumulate(record["server"], {key: server_after[key] - server_before[key]
                                       for key in ("batches", "positions", "network_seconds")})
        write_state(self.run, self.state)
        self.buffer.refresh()
        return self.buffer.games(generation) >= config.games_per_generation

    def _train(self, generation: int) -> None:
        from engine.selfplay.trainer import train_generation

        started = time.monotonic()
        self.buffer.refresh()
        self._say(f"gen {generation}: training on the window ({len(self.buffer.window())} shards)")
        metrics = train_generation(self.config, self.buffer, net_path(self.run, self.state["best"]),
                                   net_path(self.run, generation), self.run / "train" / f"gen-{generation:03d}",
                                   seed=self.config.actor.seed + generation, progress=self.progress)
        self.state["phase_data"]["train"] = {**metrics, "seconds": time.monotonic() - started}

    def _gate(self, generation: int) -> None:
        from engine.selfplay.gating import play

        best = self.state["best"]
        self._say(f"gate: gen {generation} vs gen {best}, {self.config.gate.games} games at "
                  f"{self.config.gate.nodes} nodes")
        result = play(net_path(self.run, generation), net_path(self.run, best), self.config.gate,
                      self.config.gate.games, self.run / "games" / f"gate-{generation:03d}.pgn",
                      (f"gen-{generation:03d}", f"gen-{best:03d}"), use_sprt=True, progress=self.progress)
        self._say(f"gate: gen {generation} {result.describe()}: {'promoted' if result.passed else 'rejected'}")
        self.state["phase_data"]["gate"] = result.to_dict()

    def _evaluate(self, generation: int) -> None:
        data = self.state["phase_data"]
        gate = data["gate"]
        if self.config.gate.eval_games > 0:
            from engine.selfplay.gating import play

            result = play(net_path(self.run, generation), net_path(self.run, 0), self.config.gate,
                          self.config.gate.eval_games, self.run / "games" / f"reference-{generation:03d}.pgn",
                          (f"gen-{generation:03d}", "gen-000"), use_sprt=False, progress=self.progress)
            self._say(f"gen {generation} vs the reference (gen 0): {result.describe()}")
            data["eval"] = {"elo": result.elo, "source": f"{result.games} games vs gen 0"}
        else:
            data["eval"] = {"elo": self.state["best_elo"] + gate["elo"], "source": "chained gates"}

    def _finish_generation(self, generation: int) -> None:
        state, data = self.state, self.state["phase_data"]
        play, train, gate = data.get("selfplay", {}), data["train"], data["gate"]
        stats, server = play.get("stats", {}), play.get("server", {})
        seconds = stats.get("seconds", {})
        network = server.get("network_seconds", 0.0)
        promoted = bool(gate["passed"])
        if promoted:
            state["best"] = generation
            state["best_elo"] = data["eval"]["elo"]
        elapsed = max(play.get("seconds", 0.0), 1e-6)
        row = {
            "generation": generation, "games": play.get("games", 0), "positions": play.get("positions", 0),
            "selfplay_s": round(elapsed, 1), "games_per_hour": round(3600 * play.get("games", 0) / elapsed, 1),
            "positions_per_s": round(play.get("positions", 0) / elapsed, 2),
            "mean_batch": round(server.get("positions", 0) / max(server.get("batches", 0), 1), 1),
            "time_state": round(seconds.get("state", 0.0), 2), "time_encoding": round(seconds.get("encoding", 0.0), 2),
            "time_tree": round(seconds.get("tree", 0.0), 2), "time_network": round(network, 2),
            "time_wait_ipc": round(max(seconds.get("network+wait", 0.0) - network, 0.0), 2),
            "time_actor_python": round(seconds.get("actor python", 0.0), 2),
            "resigned": stats.get("resigned", 0), "playthroughs": stats.get("playthroughs", 0),
            "would_resign": stats.get("would_resign", 0), "resign_false_positives": stats.get("false_positives", 0),
            "train_s": round(train.get("seconds", 0.0), 1), "window_positions": train.get("window_positions", 0),
            "val_policy_loss": round(train.get("val_policy_loss", math.nan), 4),
            "val_value_loss": round(train.get("val_value_loss", math.nan), 4),
            "val_top1": round(train.get("val_top1", math.nan), 4),
            "gate": f"{gate['wins']}-{gate['draws']}-{gate['losses']}", "gate_score": round(gate["score"], 3),
            "gate_elo": round(gate["elo"], 1), "gate_elo_error": round(gate["elo_error"], 1),
            "promoted": promoted, "best": state["best"], "elo_vs_reference": round(data["eval"]["elo"], 1),
            "elo_source": data["eval"]["source"], "actor_restarts": play.get("restarts", 0),
        }
        state["history"].append(row)
        state["completed"] = generation
        state["phase"], state["phase_data"] = "selfplay", {}
        write_state(self.run, state)
        write_metrics(self.run, state["history"])
        self._say(f"gen {generation} done: {row['games']} games ({row['games_per_hour']} games/h), gate "
                  f"{row['gate']}, {'promoted' if promoted else 'rejected'}; best is gen {state['best']}")
        if promoted and self.pool is not None:
            self.pool.reload(str(net_path(self.run, generation)))


def _accumulate(totals: dict[str, Any], values: dict[str, Any]) -> None:
    for key, value in values.items():
        if isinstance(value, dict):
            _accumulate(totals.setdefault(key, {}), value)
        elif isinstance(value, (int, float)):
            totals[key] = totals.get(key, 0) + value


def write_metrics(run: pathlib.Path, history: list[dict[str, Any]]) -> None:
    """metrics.csv and selfplay.png from the generations' rows."""
    temporary = run / (METRICS_NAME + ".tmp")
    with open(temporary, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=METRIC_FIELDS)
        writer.writeheader()
        writer.writerows(history)
    temporary.replace(run / METRICS_NAME)
    plot(run / PLOT_NAME, history)


def plot(path: pathlib.Path, history: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    generations = [0] + [row["generation"] for row in history]
    figure, axes = plt.subplots(2, 2, figsize=(10, 7))
    elo = [0.0] + [row["elo_vs_reference"] for row in history]
    axes[0][0].plot(generations, elo, marker="o")
    axes[0][0].set_title("Elo vs the start net (gen 0)")
    axes[0][0].set_xlabel("generation")
    rows = history or [{}]
    axes[0][1].bar([r.get("generation", 0) for r in rows], [r.get("games_per_hour", 0) for r in rows])
    axes[0][1].set_title("self-play games per hour")
    axes[1][0].plot([r.get("generation", 0) for r in rows], [r.get("val_policy_loss", 0) for r in rows],
                    marker="o", label="policy")
    axes[1][0].plot([r.get("generation", 0) for r in rows], [r.get("val_value_loss", 0) for r in rows],
                    marker="o", label="value")
    axes[1][0].set_title("validation loss on the window")
    axes[1][0].legend()
    rates = [r.get("resign_false_positives", 0) / r["would_resign"] if r.get("would_resign") else 0.0 for r in rows]
    axes[1][1].bar([r.get("generation", 0) for r in rows], rates)
    axes[1][1].set_title("resign false-positive rate (playthrough games)")
    axes[1][1].set_ylim(0, 1)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


# ------------------------------------------------------------------------ CLI


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="engine selfplay", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--run", help="new run directory")
    where.add_argument("--resume", help="run directory to continue")
    parser.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                        help="run on Ray: a local Ray started here, or join the cluster at ADDRESS")
    parser.add_argument("--time-limit", type=float, help="seconds; stop (resumably) when they have passed")
    parser.add_argument("--no-progress", action="store_true")
    configuration.add_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_OK if exc.code == 0 else EXIT_ERROR
    run = pathlib.Path(args.resume or args.run)
    config, given = configuration.from_arguments(args)
    try:
        import torch

        configuration.validate(config, torch.cuda.is_available())
        config = prepare_run(run, config, resume=bool(args.resume), given=given)
        if args.ray is not None:
            try:
                import ray  # noqa: F401
            except ImportError:
                raise ConfigError("--ray needs the ray package (pip install ray)") from None
    except (ConfigError, ValueError) as error:
        print(f"engine selfplay: {error}", file=sys.stderr)
        return EXIT_ERROR
    deadline = time.monotonic() + args.time_limit if args.time_limit else None
    loop = Run(run, config, args.ray, progress=not args.no_progress, deadline=deadline)
    try:
        finished = loop.execute()
    except KeyboardInterrupt:
        print(f"engine selfplay: interrupted; continue with --resume {run}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        from engine.selfplay.local import PoolError

        if isinstance(error, (PoolError, ValueError)):
            print(f"engine selfplay: {error}; continue with --resume {run}", file=sys.stderr)
            return EXIT_ERROR
        raise
    finally:
        loop.close()
    state = loop.state
    print(f"engine selfplay: {state['completed']}/{config.generations} generations"
          f"{'' if finished else ' (time limit; --resume continues)'}; best net {net_path(run, state['best'])}")
    return EXIT_OK
