"""The UCI loop: reads commands from stdin, writes replies to stdout.

Robustness rules (documented for GUI authors and testers):

* unknown commands and malformed lines get ``info string ...`` and are ignored;
* ``position`` with a bad FEN keeps the previous position; an illegal or
  malformed move keeps the position reached before it (as Stockfish does);
  both are reported with ``info string``;
* option errors (unknown name, bad value, a net file that cannot be loaded)
  are reported and the previous value stays in force;
* ``go`` on a position without legal moves answers ``bestmove 0000``;
* end of input stops any search and exits cleanly.

The net starts loading in the background as soon as ``uciok`` is sent (importing torch and
reading the file take a second or more on a slow machine); ``isready``, ``go`` and anything else
that needs the net wait for that load, so no move's clock pays for it when a GUI sends
``isready`` before the game, as the protocol asks.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import threading
from typing import TextIO

from cython_ext.mcts import SearchTree
from cython_ext.position import STARTING_FEN, Board
from engine import ENGINE_AUTHOR, ENGINE_NAME, __version__
from uci.options import DEFAULT_NET, OPTIONS, Options
from uci.search import Limits, Searcher
from uci.timeman import budget

DEFAULT_FP32_NET = "nets/default.pt"
DEFAULT_INT8_NET = "nets/default-int8.pt"
DEFAULT_NETS_BY_PRECISION = {
    # auto: the FP32 net on the Winograd backend, which beat the INT8 twin on ONNX Runtime
    # 50-16-34 at equal time (docs/precision.md); the INT8 twin had won while fp32 ran slower.
    "auto": (DEFAULT_FP32_NET, DEFAULT_INT8_NET),
    "int8-static": (DEFAULT_INT8_NET, DEFAULT_FP32_NET),
}
"""Shipped nets to try for a run-time precision, in order; other precisions derive from the FP32
net. Paths are relative to the standalone binary's folder, its bundle or the project root."""
GO_INT_ARGS = ("wtime", "btime", "winc", "binc", "movestogo", "movetime", "nodes", "depth", "mate")


def default_net_path(precision: str = "auto") -> str | None:
    """The shipped net to load for ``precision`` when no net file is given, or None."""
    candidates = DEFAULT_NETS_BY_PRECISION.get(precision, (DEFAULT_FP32_NET,))
    roots = [pathlib.Path(__file__).resolve().parent.parent]
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        roots.insert(0, pathlib.Path(bundle))
    if getattr(sys, "frozen", False):  # nets/ beside the binary override the bundled ones
        roots.insert(0, pathlib.Path(sys.executable).resolve().parent)
    for relative in candidates:
        for root in roots:
            if (root / relative).is_file():
                return str(root / relative)
    return None


class UciEngine:
    """State of one UCI session."""

    def __init__(self, options: Options, output: TextIO = sys.stdout) -> None:
        self.options = options
        self.output = output
        self._lock = threading.Lock()
        self.board = Board()
        self.tree = SearchTree(max_batch=1024, cache_size=int(options["NNCacheSize"]))
        self.searcher = Searcher(self.send, self.tree)
        self._loaded_key: tuple | None = None
        self._cache_size = int(options["NNCacheSize"])
        self._network_lock = threading.Lock()
        self._background_load: threading.Thread | None = None

    def send(self, line: str) -> None:
        with self._lock:
            self.output.write(line + "\n")
            self.output.flush()

    # -- network ----------------------------------------------------------

    def start_network_load(self) -> None:
        """Begin loading the net in a background thread (after ``uciok``); :meth:`ensure_network` joins it."""
        if self._background_load is None:
            self._background_load = threading.Thread(target=self.ensure_network, name="net-load", daemon=True)
            self._background_load.start()

    def ensure_network(self) -> None:
        """(Re)load the net when WeightsFile/Precision/Device/Backend/Threads changed; waits for a load in flight."""
        with self._network_lock:
            self._load_network_if_changed()

    def _load_network_if_changed(self) -> None:
        key = tuple(self.options[n] for n in ("WeightsFile", "Precision", "Device", "Backend", "Threads"))
        if key == self._loaded_key and self.searcher.evaluator is not None:
            return
        from engine.nn.evaluator import load_evaluator
        from engine.nn.netfile import NetFileError

        weights, precision, device, backend, threads = key
        path = default_net_path(precision) if weights == DEFAULT_NET else weights
        if path is None:
            self.send(f"info string no net found at {DEFAULT_FP32_NET}: using a random untrained net")
        try:
            evaluator = load_evaluator(path, precision=precision, device=device, threads=threads, backend=backend)
        except (NetFileError, OSError, ValueError) as error:
            self.send(f"info string cannot load net {weights}: {error}")
            if self.searcher.evaluator is not None:
                self._loaded_key = None
                return
            self.send("info string using a random untrained net instead")
            evaluator = load_evaluator(None, precision="fp32", device="cpu", threads=threads)
        self.searcher.evaluator = evaluator
        self._loaded_key = key
        self.tree.clear()  # cached evaluations belong to the old net
        self.send(f"info string loaded {evaluator.describe()}")

    def _apply_search_options(self) -> None:
        tree, params, o = self.tree, self.searcher.params, self.options
        tree.cpuct, tree.cpuct_base, tree.cpuct_factor = o["CPuct"], o["CPuctBase"], o["CPuctFactor"]
        tree.fpu_value, tree.policy_temperature = o["FpuValue"], o["PolicyTemperature"]
        params.minibatch = int(o["MinibatchSize"])
        params.multipv = int(o["MultiPV"])
        params.show_wdl = bool(o["UCI_ShowWDL"])
        params.smart_pruning = float(o["SmartPruningFactor"])
        params.max_tree_bytes = int(o["RamLimitMb"]) * 1024 * 1024
        if int(o["NNCacheSize"]) != self._cache_size:
            self._cache_size = int(o["NNCacheSize"])
            self.tree = SearchTree(max_batch=1024, cache_size=self._cache_size)
            self.searcher.tree = self.tree
        self.board.chess960 = bool(o["UCI_Chess960"])

    # -- commands ---------------------------------------------------------

    def handle(self, line: str) -> bool:
        """Process one line; False when the session should end."""
        tokens = line.split()
        if not tokens:
            return True
        command, args = tokens[0], tokens[1:]
        if command == "quit":
            self.searcher.stop()
            return False
        handler = getattr(self, f"cmd_{command}", None)
        if handler is None:
            self.send(f"info string unknown command: {line.strip()[:200]}")
            return True
        try:
            handler(args)
        except Exception as error:  # a bad line must never end the session
            self.send(f"info string error in '{line.strip()[:200]}': {type(error).__name__}: {error}")
        return True

    def cmd_uci(self, args: list[str]) -> None:
        self.send(f"id name {ENGINE_NAME} {__version__}")
        self.send(f"id author {ENGINE_AUTHOR}")
        for option in OPTIONS:
            self.send(option.uci_line())
        self.send("uciok")
        self.start_network_load()

    def cmd_isready(self, args: list[str]) -> None:
        if not self.searcher.searching:
            self.ensure_network()
        self.send("readyok")

    def cmd_ucinewgame(self, args: list[str]) -> None:
        self.searcher.stop()
        with self._network_lock:  # a load in flight clears the tree too
            self.tree.clear()

    def cmd_setoption(self, args: list[str]) -> None:
        text = " ".join(args)
        if not text.startswith("name "):
            self.send("info string setoption needs: setoption name <id> [value <x>]")
            return
        name, _, value = text[5:].partition(" value ")
        if self.searcher.searching:
            self.send("info string option changes during a search apply to the next search")
        try:
            self.options.set(name, value)
        except (KeyError, ValueError) as error:
            self.send(f"info string {error.args[0]}")

    def cmd_position(self, args: list[str]) -> None:
        if not args or args[0] not in ("startpos", "fen"):
            self.send("info string position needs startpos or fen")
            return
        if "moves" in args:
            split = args.index("moves")
            setup, moves = args[:split], args[split + 1:]
        else:
            setup, moves = args, []
        chess960 = bool(self.options["UCI_Chess960"])
        fen = STARTING_FEN if setup[0] == "startpos" else " ".join(setup[1:])
        try:
            board = Board(fen, chess960=chess960)
        except ValueError as error:
            self.send(f"info string invalid FEN ({error}); position unchanged")
            return
        for move in moves:
            try:
                board.push_uci(move)
            except ValueError as error:
                self.send(f"info string {error}; position set up to the move before it")
                break
        self.board = board

    def cmd_go(self, args: list[str]) -> None:
        if self.searcher.searching:
            self.send("info string already searching; go ignored")
            return
        values: dict[str, int] = {}
        limits = Limits()
        i = 0
        while i < len(args):
            token = args[i]
            if token in GO_INT_ARGS and i + 1 < len(args):
                try:
                    values[token] = max(int(args[i + 1]), 0)
                except ValueError:
                    self.send(f"info string go {token}: not a number: {args[i + 1]!r}")
                i += 2
            elif token == "infinite":
                limits.infinite = True
                i += 1
            elif token == "ponder":
                limits.ponder = True
                i += 1
            elif token == "searchmoves":
                i += 1
                while i < len(args) and args[i] not in GO_INT_ARGS + ("infinite", "ponder"):
                    limits.search_moves.append(args[i])
                    i += 1
            else:
                self.send(f"info string go: ignored {token!r}")
                i += 1
        white = self.board.turn
        limits.nodes = values.get("nodes")
        limits.depth = values.get("depth")
        limits.budget = budget(time_ms=values.get("wtime" if white else "btime"),
                               increment_ms=values.get("winc" if white else "binc", 0),
                               moves_to_go=values.get("movestogo"), move_time_ms=values.get("movetime"),
                               overhead_ms=int(self.options["Move Overhead"]),
                               slow_mover_percent=int(self.options["Slow Mover"]))
        self.ensure_network()
        self._apply_search_options()
        self.searcher.start(self.board, limits)

    def cmd_stop(self, args: list[str]) -> None:
        self.searcher.stop()

    def cmd_ponderhit(self, args: list[str]) -> None:
        self.searcher.ponderhit()

    def run(self, stream: TextIO) -> None:
        for line in stream:
            if not self.handle(line):
                return
        self.searcher.stop()  # end of input


def main(argv: list[str]) -> int:
    """``engine [--flags]``: the UCI loop, every option settable as a flag."""
    options = Options()
    parser = argparse.ArgumentParser(prog="engine", description="UCI chess engine (MCTS + neural network). "
                                     "Run without arguments to speak UCI; see also `engine help`.")
    options.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        options.apply_arguments(args)
    except (KeyError, ValueError) as error:
        parser.error(str(error.args[0]))
    UciEngine(options).run(sys.stdin)
    return 0
