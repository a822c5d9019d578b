"""Start or resume a RAM run end to end: run directory, logger, training, final test score."""

from __future__ import annotations

import sys
from pathlib import Path

from rnnagents.train.config import from_dict
from rnnagents.train.ram_config import RAMRunConfig
from rnnagents.train.ram_trainer import KIND, RAMTrainer, finish_ram_run
from rnnagents.train.run_dir import read_run_config, start_run_dir
from rnnagents.train.run_logger import RunLogger


def resume_config(run_dir: str | Path, **overrides) -> RAMRunConfig:
    """The run's saved config; only ``epochs`` and ``device`` may change on resume."""
    agent, saved = read_run_config(run_dir)
    if agent != KIND:
        raise ValueError(f"{run_dir} is a {agent!r} run, not a RAM run")
    allowed = {"epochs", "device"}
    changed = {k: v for k, v in overrides.items() if v is not None and saved.get(k) != v}
    refused = sorted(set(changed) - allowed)
    if refused:
        raise ValueError(f"cannot change {refused} when resuming {run_dir}; only {sorted(allowed)}")
    return from_dict(RAMRunConfig, {**saved, **changed})


def run_ram(
    config: RAMRunConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    wandb: bool = False,
    progress: bool = True,
) -> dict | None:
    """Train (or continue) a RAM run; returns the test report, or None when stopped early."""
    run_dir = Path(run_dir)
    if not resume:
        start_run_dir(run_dir, config.as_dict(), KIND)
    trainer = RAMTrainer(config, run_dir, wandb=wandb, progress=progress)
    if resume:
        trainer.restore()
    with RunLogger(
        run_dir, config.as_dict(), wandb=wandb, run_name=run_dir.name, project="rnnagents-ram"
    ) as logger:
        if not trainer.run(logger):
            print(
                f"Stopped; checkpoint saved. Resume with: rnnagents train ram --resume {run_dir}",
                file=sys.stderr,
            )
            return None
        return finish_ram_run(trainer, logger)
