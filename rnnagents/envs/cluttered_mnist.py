"""The cluttered translated MNIST glimpse environment (Mnih et al. 2014), single and vectorized.

:class:`ClutteredMNISTEnv` is the Gymnasium env; :class:`ClutteredMNISTVectorEnv` beside it is
its native vector env (``gymnasium.make_vec(id, num_envs=N, vectorization_mode=
"vector_entry_point")``): N episodes stepped by batched numpy, no loop over envs. The vector env
keeps one random generator per sub-env, seeded ``seed, seed+1, ...`` like ``SyncVectorEnv``, so
N single envs and the vector env make identical episodes for the same seed. Both are thin
shells around one :class:`~rnnagents.envs.glimpse_task.GlimpseTask`.
"""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.error import ResetNeeded
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from rnnagents.common.video import has_display
from rnnagents.envs.glimpse_task import (
    GlimpseTask,
    GlimpseTaskConfig,
    action_space,
    observation_space,
    parse_action,
)
from rnnagents.envs.render import draw_glimpse_frame

ONE = np.array([0])


class ClutteredMNISTEnv(gym.Env):
    """
    ## Description
    An MNIST digit sits at a uniformly random place on a dark ``canvas_size`` square canvas,
    among ``n_clutter`` pieces of other digits. The agent never sees the canvas: it sees it
    through a retina-like glimpse sensor centred where it chooses to look, and after
    ``n_glimpses`` glimpses it must name the digit. This is the task of "Recurrent Models of
    Visual Attention" (Mnih et al. 2014), generated as in deepmind's mnist-cluttered.

    ## Action Space
    ``Dict(location=Box(-1, 1, (2,), float32), class=Discrete(10))``. ``location`` (x, y) is
    where the next glimpse is taken: (-1, -1) the top-left corner, (0, 0) the centre, (1, 1)
    the bottom-right. ``class`` is read only at the final step. For Stable-Baselines3, which has
    no Dict actions, wrap with :class:`rnnagents.envs.glimpse_sb3.FlatGlimpseActions`.

    ## Observation Space
    ``Dict(glimpse=Box(0, 1, (n_scales, g, g), float32), location=Box(-1, 1, (2,), float32))``:
    ``n_scales`` patches centred on ``location``, the first ``g = glimpse_size`` pixels wide,
    each next one ``scale`` times wider, each averaged down to ``g x g``; pixels outside the
    canvas read 0.

    ## Rewards
    1 at the final step if ``class`` is the true label, else 0.

    ## Starting State
    A new canvas is drawn from the chosen ``split`` (clutter comes from the same split, so
    splits never share digits). The first glimpse is at the centre, or at a uniformly random
    location with ``first_location="random"``.

    ## Episode End
    Terminates on step ``n_glimpses``: the agent has then seen ``n_glimpses`` glimpses (one at
    reset, one per earlier step) and names the class. The terminal observation is the glimpse
    at that step's location, which no decision uses. ``info`` then holds ``label``,
    ``prediction`` and ``is_success``. There is no truncation.

    ## Arguments
    ``canvas_size`` (60), ``glimpse_size`` (12), ``n_scales`` (3), ``scale`` (2),
    ``n_glimpses`` (8), ``n_clutter`` (4), ``clutter_size`` (8), ``first_location``
    ("center" | "random"), ``split`` ("train" | "validation" | "test"), ``data_dir`` (folder
    with MNIST-format IDX files; default: cache, then the offline sample), ``render_mode``
    ("rgb_array" | "human"). Registered presets: ``rnnagents/MNIST28-v0``,
    ``rnnagents/TranslatedMNIST60-v0``, ``rnnagents/ClutteredMNIST60-v0``,
    ``rnnagents/ClutteredMNIST100-v0``.
    """

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": 4}

    def __init__(
        self,
        render_mode: str | None = None,
        data_dir: str | os.PathLike | None = None,
        **task_kwargs: Any,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}"
            )
        self.config = GlimpseTaskConfig(**task_kwargs)
        self.render_mode = render_mode
        self.task = GlimpseTask(self.config, 1, data_dir)
        self.observation_space = observation_space(self.config)
        self.action_space = action_space()
        self._running = False
        self._window: str | None = None
        self._warned_headless = False

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        obs = self.task.reset([self.np_random], ONE)
        self._running = True
        if self.render_mode == "human":
            self.render()
        return _single(obs), {}

    def step(self, action):
        if not self._running:
            raise ResetNeeded("step() called before reset() or after the episode terminated")
        location, klass = parse_action(action, None)
        obs, reward, terminated = self.task.step(ONE, location, klass)
        info: dict[str, Any] = {}
        if terminated[0]:
            self._running = False
            label, prediction = int(self.task.labels[0]), int(self.task.predictions[0])
            info = {"label": label, "prediction": prediction, "is_success": label == prediction}
        if self.render_mode == "human":
            self.render()
        return _single(obs), float(reward[0]), bool(terminated[0]), False, info

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='rgb_array'")
            return None
        frame = draw_glimpse_frame(
            self.task.canvases[0],
            self.task.path[0, : self.task.steps[0]],
            self.config.glimpse_size,
            self.config.n_scales,
            self.config.scale,
        )
        if self.render_mode == "rgb_array":
            return frame
        self._show(frame)
        return None

    def _show(self, frame: np.ndarray) -> None:
        if not has_display():
            if not self._warned_headless:
                gym.logger.warn("render_mode='human' but no display: nothing is shown")
                self._warned_headless = True
            return
        import cv2

        self._window = "rnnagents glimpses"
        cv2.imshow(self._window, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        cv2.waitKey(int(1000 / self.metadata["render_fps"]))

    def close(self) -> None:
        if self._window is not None:
            import cv2

            cv2.destroyWindow(self._window)
            self._window = None


def _single(obs: dict) -> dict:
    return {key: value[0] for key, value in obs.items()}


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
