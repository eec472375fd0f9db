"""The trainer stage: the next net, trained from the replay buffer's window with the supervised trainer's code.

Each generation is an ``engine train`` run whose data is the window (the most recent positions)
and whose start is the current best net; its checkpoint lives in the generation's folder, so a
killed run resumes the training where it stopped.
"""

from __future__ import annotations

import pathlib
from typing import Any

from engine.selfplay.config import RunConfig
from engine.selfplay.replay import ReplayBuffer

VALIDATION_FRACTION = 0.05
LOG_EVERY = 50


def train_generation(config: RunConfig, buffer: ReplayBuffer, init: pathlib.Path, out: pathlib.Path,
                     run_dir: pathlib.Path, seed: int, progress: bool = True) -> dict[str, Any]:
    """Train ``out`` from ``init`` on the window; returns the validation metrics and window size."""
    from engine.training import train
    from engine.training.dataset import load_shards

    jobs = buffer.window()
    data = load_shards(jobs, result_weight=config.buffer.result_weight, workers=1, progress=False)
    if len(set(data.game.tolist())) < 2:
        raise ValueError("the window holds fewer than 2 games; play more games per generation")
    trainer = config.trainer
    argv = ["--data", str(buffer.folder), "--init", str(init), "--out", str(out),
            "--steps", str(trainer.steps), "--batch", str(trainer.batch), "--lr", str(trainer.lr),
            "--result-weight", str(config.buffer.result_weight), "--validation-fraction", str(VALIDATION_FRACTION),
            "--run-dir", str(run_dir), "--device", trainer.device, "--seed", str(seed),
            "--log-every", str(min(LOG_EVERY, trainer.steps)), "--eval-every", str(trainer.steps)]
    if not progress:
        argv.append("--no-progress")
    args = train.build_parser().parse_args(argv)
    args.argv = argv
    if trainer.threads:
        import torch

        torch.set_num_threads(trainer.threads)
    metrics = train.train(args, data=data)
    return {**metrics, "window_positions": len(data), "window_shards": len(jobs)}
