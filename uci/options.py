"""Engine options, each declared once and exposed as a UCI option and an ``engine --flag``.

>>> options = Options()
>>> _ = options.set("MinibatchSize", "32")
>>> options["MinibatchSize"]
32
>>> option_flag(OPTIONS[0])
'--weights-file'
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass, field

DEFAULT_NET = "<default>"
"""WeightsFile value meaning: the shipped net for the Precision (``nets/default-int8.pt`` for
int8-static, ``nets/default.pt`` for the others, auto included; see
:func:`uci.protocol.default_net_path`), else a random net."""


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Option:
    """One option. ``kind`` is a UCI type; floats are UCI ``string`` options, as lc0 does."""

    name: str
    kind: str  # "spin" | "check" | "combo" | "string" | "float"
    default: object
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    aliases: tuple[str, ...] = field(default=())

    def parse(self, text: str) -> object:
        """Value from text; ``ValueError`` with a message naming the option when invalid."""
        text = text.strip()
        if self.kind == "check":
            if text.lower() not in ("true", "false"):
                raise ValueError(f"{self.name} must be true or false, not {text!r}")
            return text.lower() == "true"
        if self.kind in ("spin", "float"):
            try:
                value = int(text) if self.kind == "spin" else float(text)
            except ValueError:
                raise ValueError(f"{self.name} must be a number, not {text!r}") from None
            if (self.minimum is not None and value < self.minimum) or \
                    (self.maximum is not None and value > self.maximum):
                raise ValueError(f"{self.name} must be in [{self.minimum}, {self.maximum}], not {text}")
            return value
        if self.kind == "combo":
            for choice in self.choices:
                if choice.lower() == text.lower():
                    return choice
            raise ValueError(f"{self.name} must be one of {', '.join(self.choices)}, not {text!r}")
        return text

    def uci_line(self) -> str:
        if self.kind == "spin":
            return (f"option name {self.name} type spin default {self.default} "
                    f"min {int(self.minimum)} max {int(self.maximum)}")
        if self.kind == "check":
            return f"option name {self.name} type check default {str(self.default).lower()}"
        if self.kind == "combo":
            return (f"option name {self.name} type combo default {self.default} "
                    + " ".join(f"var {c}" for c in self.choices))
        return f"option name {self.name} type string default {self.default}"


BACKEND_CHOICES = ("auto", "torch", "onnxruntime", "winograd")
"""Mirrors :data:`engine.nn.evaluator.BACKENDS` (kept literal so that ``uci`` starts without importing torch)."""
PRECISION_CHOICES = ("auto", "fp32", "amp", "int8-dynamic", "int8-static")

OPTIONS: tuple[Option, ...] = (
    Option("WeightsFile", "string", DEFAULT_NET, "network file: our .pt format, or an lc0 .pb.gz", aliases=("--net",)),
    Option("Precision", "combo", "auto", "network precision; auto = what the file holds",
           choices=PRECISION_CHOICES),
    Option("Device", "combo", "auto", "where the network runs", choices=("auto", "cpu", "cuda")),
    Option("Backend", "combo", "auto", "what runs the network: winograd (CPU, fp32), onnxruntime (CPU, fp32 and "
           "int8-static) or torch; auto = winograd for fp32 on CPU, onnxruntime for int8-static, else torch",
           choices=BACKEND_CHOICES),
    Option("Threads", "spin", min(2, _cores()), "CPU threads for network evaluation", 1, 512),
    Option("MinibatchSize", "spin", 32, "leaves gathered per network call", 1, 1024),
    Option("NNCacheSize", "spin", 200_000, "network evaluations cached (entries)", 0, 100_000_000),
    Option("CPuct", "float", 1.745, "PUCT exploration constant", 0.0, 100.0),
    Option("CPuctBase", "float", 38739.0, "visit count at which exploration grows", 1.0, 1e9),
    Option("CPuctFactor", "float", 3.894, "growth of exploration with visits", 0.0, 1000.0),
    Option("FpuValue", "float", 0.330, "first-play urgency reduction for unvisited moves", -100.0, 100.0),
    Option("PolicyTemperature", "float", 1.359, "softmax temperature of the policy", 0.1, 10.0),
    Option("SmartPruningFactor", "float", 1.33, "stop early when the best move cannot change "
           "(0 disables); higher is more eager", 0.0, 10.0),
    Option("MultiPV", "spin", 1, "principal variations reported", 1, 500),
    Option("Ponder", "check", False, "think on the opponent's time (GUI-controlled)"),
    Option("UCI_ShowWDL", "check", False, "report win/draw/loss per mille"),
    Option("UCI_Chess960", "check", False, "Chess960 castling notation (king takes rook)"),
    Option("Move Overhead", "spin", 100, "milliseconds kept back per move for GUI/network lag", 0, 10_000),
    Option("Slow Mover", "spin", 200, "percent of the per-move time target to aim for (higher thinks longer)",
           10, 1000),
    Option("RamLimitMb", "spin", 1024, "search tree memory limit in MiB (0 = none)", 0, 1_000_000),
)

OPTIONS_BY_NAME = {o.name.lower(): o for o in OPTIONS}


def option_flag(option: Option) -> str:
    """``WeightsFile`` -> ``--weights-file``; ``Move Overhead`` -> ``--move-overhead``."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", option.name.replace("UCI_", "uci ")).split()
    return "--" + "-".join(w.lower() for w in words)


class Options:
    """Current option values, keyed case-insensitively by UCI name."""

    def __init__(self) -> None:
        self._values = {o.name: o.default for o in OPTIONS}

    def __getitem__(self, name: str) -> object:
        return self._values[OPTIONS_BY_NAME[name.lower()].name]

    def set(self, name: str, text: str) -> str:
        """Set from text; returns the canonical name. Raises ``KeyError``/``ValueError``."""
        option = OPTIONS_BY_NAME.get(name.strip().lower())
        if option is None:
            raise KeyError(f"unknown option {name.strip()!r}")
        self._values[option.name] = option.parse(text)
        return option.name

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        for option in OPTIONS:
            parser.add_argument(option_flag(option), *option.aliases, dest=option.name, metavar="VALUE",
                                default=None, help=f"{option.help} (UCI option {option.name!r}, "
                                f"default {option.default})")

    def apply_arguments(self, args: argparse.Namespace) -> None:
        for option in OPTIONS:
            value = getattr(args, option.name)
            if value is not None:
                self.set(option.name, value)
