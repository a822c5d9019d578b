"""CarRacing-v3 for Stable-Baselines3 with the RL Zoo's preprocessing: training and scoring.

Per sub-env: frame skip 2 (max over the last two frames, rewards summed), grayscale, 64x64;
then across sub-envs: the last 2 frames stacked and channels first, so ``obs`` is ``[2, 64, 64]``
uint8 as SB3's ``CnnPolicy`` wants it. :func:`make_carracing_eval_env` is one env that shows a
trained model the same observations, on whatever track each ``reset(seed=...)`` names, with the
game's own reward (summed over the skipped frames, nothing clipped): for scoring on the
evaluation tracks the training envs refuse.

Tracks: every episode is ``reset(seed=track_seed)`` with a seed from the training range
(``rnnagents.worldmodel.collect``: ``[0, 1_000_000)``), never from the evaluation range that
the world-model evaluation drives on. Sub-env ``i`` of ``make_carracing_sb3_env(n, seed)``
drives tracks ``seed + i``, ``seed + i + n``, ``seed + i + 2n``, ... Leaving the next track to
the env's own generator instead would make the tracks disjoint only with high probability.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium.wrappers import (
    FrameStackObservation,
    GrayscaleObservation,
    ReshapeObservation,
    ResizeObservation,
)
from stable_baselines3.common.atari_wrappers import MaxAndSkipEnv
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import (
    DummyVecEnv,
    SubprocVecEnv,
    VecEnv,
    VecFrameStack,
    VecTransposeImage,
)

from rnnagents.envs.carracing import (
    ENV_ID,
    EVAL_TRACK_SEEDS_START,
    TRAIN_TRACK_SEEDS_START,
    check_train_seeds,
)

FRAME_SKIP = 2
FRAME_SIZE = 64
FRAME_STACK = 2
EPISODE_STEPS = gym.spec(ENV_ID).max_episode_steps // FRAME_SKIP  # agent steps in a full episode
VEC_ENV_CLASSES: dict[str, type[DummyVecEnv] | type[SubprocVecEnv]] = {
    "dummy": DummyVecEnv,
    "subproc": SubprocVecEnv,
}


class TrainTrackSeeds(gym.Wrapper):
    """Reset every episode on the next training track: ``first, first + stride, ...``.

    ``first`` is the seed of the first reset (SB3 passes ``seed + rank``); ``stride`` is the
    number of sub-envs, so sub-envs never share a track.
    """

    def __init__(self, env: gym.Env, stride: int) -> None:
        super().__init__(env)
        self.stride = stride
        self._next_track: int | None = None

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        track = self._next_track if seed is None else seed
        if track is None:
            raise ValueError("the first reset of a CarRacing training env needs a track seed")
        if not TRAIN_TRACK_SEEDS_START <= track < EVAL_TRACK_SEEDS_START:
            raise ValueError(
                f"track seed {track} is outside the training range "
                f"[{TRAIN_TRACK_SEEDS_START}, {EVAL_TRACK_SEEDS_START})"
            )
        self._next_track = track + self.stride
        return self.env.reset(seed=track, options=options)


def zoo_frames(env: gym.Env) -> gym.Env:
    """The RL Zoo's CarRacing wrappers: frame skip, grayscale, resize (``[64, 64, 1]``)."""
    env = MaxAndSkipEnv(env, skip=FRAME_SKIP)
    env = GrayscaleObservation(env, keep_dim=True)
    return ResizeObservation(env, (FRAME_SIZE, FRAME_SIZE))


def zoo_preprocessing(env: gym.Env, stride: int) -> gym.Env:
    """The RL Zoo's CarRacing wrappers, then track seeding."""
    return TrainTrackSeeds(zoo_frames(env), stride)


def make_carracing_sb3_env(n_envs: int, seed: int, vec: str = "dummy") -> VecEnv:
    """``n_envs`` preprocessed CarRacing-v3 envs as one SB3 VecEnv, on training tracks."""
    if vec not in VEC_ENV_CLASSES:
        raise ValueError(f"vec must be one of {sorted(VEC_ENV_CLASSES)}, got {vec!r}")
    check_train_seeds(seed, n_envs)
    envs = make_vec_env(
        ENV_ID,
        n_envs=n_envs,
        seed=seed,
        wrapper_class=zoo_preprocessing,
        wrapper_kwargs={"stride": n_envs},
        vec_env_cls=VEC_ENV_CLASSES[vec],
    )
    return VecTransposeImage(VecFrameStack(envs, n_stack=FRAME_STACK))


def make_carracing_eval_env(render_mode: str | None = None) -> gym.Env:
    """One CarRacing-v3 showing an SB3 model what :func:`make_carracing_sb3_env` showed it.

    ``[2, 64, 64]`` uint8, oldest frame first and zeros before the first frame, like
    ``VecFrameStack`` then ``VecTransposeImage``. No track seeding of its own: the caller
    names each episode's track with ``reset(seed=...)`` (evaluation tracks included).
    """
    env = zoo_frames(gym.make(ENV_ID, render_mode=render_mode))
    env = FrameStackObservation(env, FRAME_STACK, padding_type="zero")  # [2, 64, 64, 1]
    return ReshapeObservation(env, (FRAME_STACK, FRAME_SIZE, FRAME_SIZE))
