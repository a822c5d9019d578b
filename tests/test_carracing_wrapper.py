"""CarRacing frames for World Models: the wrapper passes gymnasium's checker and crops right."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from rnnagents.envs.carracing import CROP_ROWS, FRAME_SIZE, drive, make_carracing, tiles_visited

# Box2D's SWIG bindings warn when the first gym.make imports them: not our code.
pytestmark = pytest.mark.filterwarnings("ignore:builtin type Swig:DeprecationWarning")

# Warnings check_env may raise that are expected here, each with why:
ALLOWED_WARNINGS = (
    # check_env recommends checking env.unwrapped; checking the wrapper is the point here.
    "is different from the unwrapped version",
    # Box2D's SWIG bindings again, when check_env's first gym.make imports them.
    "has no __module__ attribute",
)


def test_wrapper_passes_check_env():
    env = make_carracing()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    unexpected = [
        str(w.message)
        for w in caught
        if not any(text in str(w.message) for text in ALLOWED_WARNINGS)
    ]
    assert unexpected == []
    env.close()


def test_frames_are_cropped_and_resized_with_area_interpolation():
    env = make_carracing()
    frame, _ = env.reset(seed=3)
    assert frame.shape == (FRAME_SIZE, FRAME_SIZE, 3) and frame.dtype == np.uint8
    assert env.observation_space.contains(frame)
    raw = env.unwrapped.state  # the last 96x96 frame the unwrapped env rendered
    expected = cv2.resize(raw[:CROP_ROWS], (FRAME_SIZE, FRAME_SIZE), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(frame, expected)
    env.close()


def test_drive_pairs_each_frame_with_the_action_taken_on_it():
    env = make_carracing()
    seen = []

    def act(frame: np.ndarray) -> np.ndarray:
        seen.append(frame)
        return np.array([0.0, 0.5, 0.0])

    steps = list(drive(env, act, track_seed=5, max_steps=20))
    assert len(steps) == 20
    assert all(step.frame is frame for step, frame in zip(steps, seen, strict=True))
    assert all(step.action.dtype == np.float32 for step in steps)
    assert 0.0 < tiles_visited(env) < 1.0  # full gas from the start line reaches a few tiles
    env.close()
