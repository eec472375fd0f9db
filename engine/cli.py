"""The ``engine`` console script.

With no subcommand it speaks UCI on stdin/stdout. Subcommands are modules with a
``main(argv) -> int`` function, imported only when used so that the UCI start-up
stays fast (torch is heavy).
"""

from __future__ import annotations

import importlib
import sys

from engine import ENGINE_NAME, __version__

COMMANDS: dict[str, tuple[str, str]] = {
    "bench": ("engine.bench.bench", "fixed search of fixed positions: node total and nodes/second"),
    "profile": ("engine.bench.profile", "where bench's time goes: game state, encoding, network, tree, other"),
    "perft": ("engine.bench.perft", "count leaf nodes of the move generator (Stockfish-style output)"),
    "quantize": ("engine.nn.quantize", "derive an int8 net (dynamic, static, QAT) from a float net"),
    "netbench": ("engine.bench.netbench", "network throughput per precision and batch size"),
    "netcompare": ("engine.nn.netcompare", "policy/value agreement between two nets"),
    "import-lc0": ("engine.nn.lc0", "convert an lc0 weights file (.pb.gz) to a net file"),
    "match": ("engine.arena.match", "play two UCI engines against each other (Elo, SPRT, PGN)"),
    "gate": ("engine.arena.gate", "accept or reject a candidate net: match, tactics, Stockfish ladder"),
    "precision-report": ("engine.precision_report", "each precision of a net against fp32: speed, accuracy, games"),
    "datagen": ("engine.training.datagen", "training games played and labelled by Stockfish"),
    "train": ("engine.training.train", "supervised training of the network on datagen folders"),
    "selfplay": ("engine.selfplay.run", "self-play RL loop: actors, inference server, replay buffer, trainer, gating (local or Ray)"),
    "selfplay-bench": ("engine.selfplay.bench", "self-play throughput per inference precision and where its time goes"),
    "heldout": ("engine.training.heldout", "several nets' validation figures on the same held-out games"),
    "games2pgn": ("engine.training.games2pgn", "export datagen games as PGN"),
    "movematch": ("engine.nn.movematch", "how often a net's 1-node policy move matches the moves of a PGN"),
    "mctsbench": ("engine.bench.mctsbench", "our search vs a plain Python MCTS, same net and playouts"),
    "perftbench": ("engine.bench.perftbench", "perft and encoding speed vs python-chess, side by side"),
    "build-dist": ("engine.build_dist", "build the standalone binary with PyInstaller (dist/engine/)"),
}


def usage() -> str:
    lines = [f"{ENGINE_NAME} {__version__}", "", "usage: engine [COMMAND] [ARGS...]", "",
             "commands:"]
    lines += [f"  {name:<17} {help_text}" for name, (_, help_text) in COMMANDS.items()]
    lines += ["", "Run `engine COMMAND --help` for the options of a command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in COMMANDS:
        try:
            module = importlib.import_module(COMMANDS[argv[0]][0])
            return int(module.main(argv[1:]) or 0)
        except ModuleNotFoundError as error:
            if not getattr(sys, "frozen", False):
                raise
            # The standalone binary (engine.spec) leaves out what only the developer commands use.
            print(f"engine {argv[0]}: {error.name} is not in this standalone binary; "
                  f"run it from the Python install (pip install -e .)", file=sys.stderr)
            return 2
    if argv and argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv and argv[0] in ("-V", "--version"):
        print(f"{ENGINE_NAME} {__version__}")
        return 0
    from uci.protocol import main as uci_main

    return uci_main(argv)


if __name__ == "__main__":
    sys.exit(main())
