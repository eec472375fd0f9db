"""Draw several self-play runs' Elo curves and throughput side by side (docs/selfplay/runs.png).

    python docs/selfplay/compare_runs.py OUT.png RUN_DIR [RUN_DIR ...]
"""

from __future__ import annotations

import json
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(out: str, runs: list[str]) -> None:
    figure, (elo_axis, speed_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for run in runs:
        state = json.loads((pathlib.Path(run) / "state.json").read_text())
        config = json.loads((pathlib.Path(run) / "config.json").read_text())
        label = f"{pathlib.Path(run).name} ({config['inference']['precision']} inference)"
        history = state["history"]
        elo_axis.plot([0] + [row["generation"] for row in history], [0] + [row["elo_vs_reference"] for row in history],
                      marker="o", label=label)
        speed_axis.plot([row["generation"] for row in history], [row["games_per_hour"] for row in history],
                        marker="o", label=label)
    elo_axis.set_title("Elo vs the start net (gen 0), 64 nodes")
    elo_axis.set_xlabel("generation")
    speed_axis.set_title("self-play games per hour")
    speed_axis.set_xlabel("generation")
    for axis in (elo_axis, speed_axis):
        axis.legend(fontsize=8)
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(out, dpi=90)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
