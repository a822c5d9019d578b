"""CarRacing-v3 as World Models sees it: small frames without the dashboard.

Ha & Schmidhuber (2018) feed the VAE 64x64 RGB frames. The bottom 12 rows of CarRacing's 96x96
frame are the dashboard (speed, ABS and steering bars), which the car's own state already
determines; cropping it keeps the VAE's capacity for the track. INTER_AREA averages the source
pixels a target pixel covers, so thin track borders survive the downscale instead of aliasing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import cv2
import gymnasium as gym
import numpy as np

ENV_ID = "CarRacing-v3"
# Track seeds say which track an episode drives. Training data only ever uses seeds from
# TRAIN_TRACK_SEEDS_START up to (excluding) EVAL_TRACK_SEEDS_START, and evaluation only seeds
# from EVAL_TRACK_SEEDS_START on, so no agent is scored on a track it was trained on.
TRAIN_TRACK_SEEDS_START = 0
EVAL_TRACK_SEEDS_START = 1_000_000
FRAME_SIZE = 64
FILM_FPS = 25  # films of an episode play at half the game's 50 frames per second
CROP_ROWS = 84  # rows 0..83 are the road; 84..95 the dashboard
# CarRacing's action bounds: steer in [-1, 1], gas and brake in [0, 1].
ACTION_LOW = np.array([-1.0, 0.0, 0.0], dtype=np.float32)
ACTION_HIGH = np.array([1.0, 1.0, 1.0], dtype=np.float32)
# CarRacing-v3's reward: STEP_REWARD every step, plus 1000 / (tiles of the track) for each new
# tile reached; leaving the playfield ends the episode and that step pays OFF_PLAYFIELD_REWARD.
STEP_REWARD = -0.1
OFF_PLAYFIELD_REWARD = -100.0


def train_track_seeds(count: int, start: int = 0) -> list[int]:
    """``count`` training track seeds, ``start`` places into the training range."""
    return list(range(TRAIN_TRACK_SEEDS_START + start, TRAIN_TRACK_SEEDS_START + start + count))


def eval_track_seeds(count: int, start: int = 0) -> list[int]:
    """``count`` evaluation track seeds, never used for training data."""
    return list(range(EVAL_TRACK_SEEDS_START + start, EVAL_TRACK_SEEDS_START + start + count))


def check_train_seeds(seed: int, n_envs: int) -> None:
    """Refuse a ``seed`` whose ``n_envs`` first tracks are not all training tracks."""
    if n_envs < 1:
        raise ValueError(f"n_envs must be >= 1, got {n_envs}")
    if not TRAIN_TRACK_SEEDS_START <= seed <= EVAL_TRACK_SEEDS_START - n_envs:
        raise ValueError(
            f"seed must be in [{TRAIN_TRACK_SEEDS_START}, {EVAL_TRACK_SEEDS_START - n_envs}] "
            f"so that {n_envs} CarRacing sub-envs start on training tracks, got {seed}"
        )


class CarRacingFrames(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Observations become uint8 ``64 x 64 x 3`` frames of the road above the dashboard.

    Recording its constructor arguments puts the wrapper in ``env.spec``, so ``env.spec.make()``
    (which gymnasium's ``check_env`` uses) rebuilds the wrapped env rather than failing.
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.ObservationWrapper.__init__(self, env)
        self.observation_space = gym.spaces.Box(0, 255, (FRAME_SIZE, FRAME_SIZE, 3), dtype=np.uint8)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return cv2.resize(
            observation[:CROP_ROWS], (FRAME_SIZE, FRAME_SIZE), interpolation=cv2.INTER_AREA
        )


def make_carracing(render_mode: str | None = None, **kwargs: Any) -> CarRacingFrames:
    """``gym.make("CarRacing-v3", ...)`` with ``CarRacingFrames`` on top."""
    return CarRacingFrames(gym.make(ENV_ID, render_mode=render_mode, **kwargs))


class Step(NamedTuple):
    """One transition: the frame acted on, the action, and what that action brought."""

    frame: np.ndarray
    action: np.ndarray
    reward: float
    terminated: bool


def drive(
    env: gym.Env,
    act: Callable[[np.ndarray], np.ndarray],
    track_seed: int,
    max_steps: int,
) -> Iterator[Step]:
    """Play one episode on track ``track_seed`` for at most ``max_steps``, yielding each step.

    The one episode loop every caller shares (collection, scoring, evaluation), so they all pair
    frames, actions and rewards the same way: ``reward`` and ``terminated`` follow ``action``.
    """
    frame, _ = env.reset(seed=track_seed)
    for _ in range(max_steps):
        action = np.asarray(act(frame), dtype=np.float32)
        next_frame, reward, terminated, truncated, _ = env.step(action)
        yield Step(frame, action, float(reward), bool(terminated))
        if terminated or truncated:
            return
        frame = next_frame


def tiles_visited(env: gym.Env) -> float:
    """Fraction of the track's tiles the car has driven over so far (1.0 = a full lap)."""
    car_racing = env.unwrapped
    return car_racing.tile_visited_count / max(len(car_racing.track), 1)
