"""PPO run configuration: which env, which algorithm, how long; one JSON object per run."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from rnnagents.common.configs import check_bounds, option
from rnnagents.envs.carracing import ENV_ID as CARRACING_ID
from rnnagents.envs.carracing import check_train_seeds
from rnnagents.envs.registration import is_glimpse_id

AGENT = "ppo"
DREAM_PREFIX = "dream:"
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


@dataclass(frozen=True)
class PPORunConfig:
    """Everything a PPO run depends on; ``None`` sizes mean the algorithm's defaults
    (PPO: 2048 steps, minibatch 64; RecurrentPPO: 128 and 128)."""

    env_id: str = option(
        help="a glimpse id, CarRacing-v3, or dream:RUN_DIR (a world-model run's dream)", flag="env"
    )
    recurrent: bool = option(False, "sb3_contrib RecurrentPPO with an LSTM policy")
    timesteps: int = option(100_000, "environment steps, all sub-envs together")
    n_envs: int = option(8, "parallel envs")
    seed: int = option(0, "random seed")
    device: str = option("auto", "auto (CUDA when available), cpu or cuda[:N]")
    n_steps: int | None = option(None, "rollout length per env (default: the algorithm's)")
    batch_size: int | None = option(None, "minibatch size (default: the algorithm's)")
    learning_rate: float = option(3e-4, "learning rate", flag="lr")
    data_dir: str | None = option(None, "glimpse envs: folder with MNIST-format IDX files")
    dict_obs: bool = option(False, "glimpse envs: keep the Dict observation (MultiInputPolicy)")

    def __post_init__(self) -> None:
        glimpse = is_glimpse_id(self.env_id)
        dream = self.env_id.startswith(DREAM_PREFIX) and self.env_id != DREAM_PREFIX
        if not (glimpse or dream or self.env_id == CARRACING_ID):
            raise ValueError(
                f"unknown env {self.env_id!r}: expected a glimpse id "
                f"(`rnnagents env list`), {CARRACING_ID!r} or '{DREAM_PREFIX}RUN_DIR'"
            )
        if not glimpse and (self.dict_obs or self.data_dir is not None):
            raise ValueError("dict_obs and data_dir apply to glimpse envs only")
        check_bounds(
            self,
            at_least_one=("timesteps", "n_envs", "n_steps"),
            positive=("learning_rate",),
            non_negative=("seed",),
        )
        if self.env_id == CARRACING_ID:
            check_train_seeds(self.seed, self.n_envs)
        # PPO normalizes advantages over a rollout and a minibatch: both need 2 samples or more.
        if self.n_steps is not None and self.n_steps * self.n_envs < 2:
            raise ValueError(f"need n_steps * n_envs >= 2, got {self.n_steps} * {self.n_envs}")
        if self.batch_size is not None and self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2, got {self.batch_size}")
        if not _DEVICE.fullmatch(self.device):
            raise ValueError(f"unknown device {self.device!r}; use auto, cpu or cuda[:N]")

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def dream_run(self) -> str | None:
        """The world-model run whose dream this run trains in; ``None`` for other envs."""
        if not self.env_id.startswith(DREAM_PREFIX):
            return None
        return self.env_id.removeprefix(DREAM_PREFIX)


CONFIG = PPORunConfig
PRESETS: dict[str, PPORunConfig] = {}  # every run names its env; sizes default to SB3's
