"""Stable-Baselines3's logs into our :class:`RunLogger`, and a tqdm progress bar.

SB3 keeps its scalars (``rollout/ep_rew_mean``, ``train/value_loss``, ``time/fps`` ...) in its
own ``Logger`` and hands them to every output format at each dump (once per rollout for
on-policy algorithms). Adding one output format that forwards them to the RunLogger puts them in
``metrics.jsonl`` and, when enabled, in W&B, with SB3's step (``num_timesteps``) as the step,
without TensorBoard files or wandb's SB3 integration (which syncs TensorBoard).
"""

from __future__ import annotations

import numbers
import sys
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import HumanOutputFormat, KVWriter, Logger
from tqdm.auto import tqdm

from rnnagents.common.run_logger import RunLogger

FORMAT_NAME = "rnnagents"  # what SB3's ``exclude=`` would name to keep a key from us


class RunLoggerWriter(KVWriter):
    """An SB3 output format that forwards numeric values to a RunLogger."""

    def __init__(self, run_logger: RunLogger) -> None:
        self.run_logger = run_logger

    def write(
        self,
        key_values: dict[str, Any],
        key_excluded: dict[str, tuple[str, ...]],
        step: int = 0,
    ) -> None:
        metrics = {
            key: value
            for key, value in key_values.items()
            if isinstance(value, numbers.Real) and FORMAT_NAME not in key_excluded.get(key, ())
        }
        if metrics:
            self.run_logger.log(metrics, step=step)

    def close(self) -> None:
        """Nothing to release: the RunLogger belongs to whoever made it, and they close it."""


def attach_run_logger(model: BaseAlgorithm, run_logger: RunLogger, stdout: bool = True) -> None:
    """Send ``model``'s logs to ``run_logger`` (and SB3's table to stdout when ``stdout``).

    Built as a ``Logger`` directly: ``configure(folder=None)`` would create a stray temp folder.
    """
    formats: list[KVWriter] = [RunLoggerWriter(run_logger)]
    if stdout:
        formats.insert(0, HumanOutputFormat(sys.stdout))
    model.set_logger(Logger(folder=None, output_formats=formats))


class ProgressBar(BaseCallback):
    """A tqdm bar over environment steps; SB3's own bar needs ``rich``, not a dependency here."""

    def __init__(self) -> None:
        super().__init__()
        self._bar: tqdm | None = None

    def _on_training_start(self) -> None:
        total = self.locals["total_timesteps"] - self.model.num_timesteps
        self._bar = tqdm(total=total, unit="step", desc="ppo")

    def _on_step(self) -> bool:
        self._bar.update(self.training_env.num_envs)
        return True

    def _on_training_end(self) -> None:
        self._bar.close()
