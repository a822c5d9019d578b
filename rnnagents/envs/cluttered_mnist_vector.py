"""Native vectorized glimpse env: N episodes stepped by batched numpy, no loop over envs.

Built by ``gymnasium.make_vec(id, num_envs=N, vectorization_mode="vector_entry_point")``.
It keeps one random generator per sub-env, seeded ``seed, seed+1, ...`` like
``SyncVectorEnv``, so N single envs and this env make identical episodes for the same seed.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from gymnasium.error import ResetNeeded
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from rnnagents.envs.action_checks import parse_action
from rnnagents.envs.glimpse_task import (
    GlimpseTask,
    GlimpseTaskConfig,
    action_space,
    observation_space,
)
from rnnagents.envs.render import draw_glimpse_frame


class ClutteredMNISTVectorEnv(VectorEnv):
    """``num_envs`` cluttered-MNIST glimpse episodes at once; see :class:`ClutteredMNISTEnv`.

    Autoreset is Gymnasium's default NEXT_STEP: the step after a sub-env terminates resets it
    (its action is ignored, reward 0). All episodes have the same length, so the sub-envs stay
    in lockstep; ``reset(options={"reset_mask": mask})`` resets only some of them.
    """

    metadata = {
        "render_modes": ["rgb_array"],
        "render_fps": 4,
        "autoreset_mode": AutoresetMode.NEXT_STEP,
    }

    def __init__(
        self,
        num_envs: int = 1,
        render_mode: str | None = None,
        data_dir: str | os.PathLike | None = None,
        **task_kwargs: Any,
    ) -> None:
        if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}")
        self.num_envs = int(num_envs)
        self.render_mode = render_mode
        self.config = GlimpseTaskConfig(**task_kwargs)
        self.task = GlimpseTask(self.config, self.num_envs, data_dir)
        self.single_observation_space = observation_space(self.config)
        self.single_action_space = action_space()
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.all_envs = np.arange(self.num_envs)
        self.rngs: list[np.random.Generator] | None = None
        self.needs_reset = np.ones(self.num_envs, dtype=bool)
        self._started = False

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict | None = None):
        if seed is not None or self.rngs is None:
            seeds = _sub_env_seeds(seed, self.num_envs)
            self.rngs = [seeding.np_random(s)[0] for s in seeds]
        mask = (options or {}).get("reset_mask")
        which = self.all_envs if mask is None else np.flatnonzero(np.asarray(mask, dtype=bool))
        self.task.reset(self.rngs, which)
        self.needs_reset[which] = False
        self._started = True
        return self.task.observation(self.all_envs), {}

    def step(self, actions):
        if not self._started:
            raise ResetNeeded("step() called before reset()")
        locations, classes = parse_action(actions, self.num_envs)
        resetting = np.flatnonzero(self.needs_reset)
        stepping = np.flatnonzero(~self.needs_reset)
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminated = np.zeros(self.num_envs, dtype=bool)
        if len(resetting):
            self.task.reset(self.rngs, resetting)
        if len(stepping):
            _, rewards[stepping], terminated[stepping] = self.task.step(
                stepping, locations[stepping], classes[stepping]
            )
        self.needs_reset = terminated.copy()
        infos: dict[str, Any] = {}
        if terminated.any():
            infos = {
                "label": self.task.labels.copy(),
                "_label": terminated.copy(),
                "prediction": self.task.predictions.copy(),
                "_prediction": terminated.copy(),
                "is_success": self.task.predictions == self.task.labels,
                "_is_success": terminated.copy(),
            }
        truncated = np.zeros(self.num_envs, dtype=bool)
        return self.task.observation(self.all_envs), rewards, terminated, truncated, infos

    def render(self) -> tuple[np.ndarray, ...] | None:
        if self.render_mode is None:
            return None
        c = self.config
        return tuple(
            draw_glimpse_frame(
                self.task.canvases[i],
                self.task.path[i, : self.task.steps[i]],
                c.glimpse_size,
                c.n_scales,
                c.scale,
            )
            for i in range(self.num_envs)
        )


def _sub_env_seeds(seed, num_envs: int) -> list[int | None]:
    if seed is None:
        return [None] * num_envs
    if isinstance(seed, (int, np.integer)):
        return [int(seed) + i for i in range(num_envs)]
    seeds = list(seed)
    if len(seeds) != num_envs:
        raise ValueError(f"got {len(seeds)} seeds for {num_envs} sub-envs")
    return seeds
