"""Gymnasium ids of the glimpse task and its paper presets (Mnih et al. 2014, section 4.1)."""

from __future__ import annotations

import gymnasium as gym

ENTRY = "rnnagents.envs.cluttered_mnist:ClutteredMNISTEnv"
VECTOR_ENTRY = "rnnagents.envs.cluttered_mnist:ClutteredMNISTVectorEnv"

GLIMPSE_PRESETS: dict[str, tuple[str, dict]] = {
    "rnnagents/ClutteredMNIST-v0": (
        "glimpse task, every argument free (defaults: 60x60, 4 clutter pieces)",
        {},
    ),
    "rnnagents/MNIST28-v0": (
        "28x28 MNIST, 8x8 glimpse, 1 scale, 6 glimpses",
        dict(canvas_size=28, glimpse_size=8, n_scales=1, n_glimpses=6, n_clutter=0),
    ),
    "rnnagents/TranslatedMNIST60-v0": (
        "60x60 translated MNIST, 12x12 glimpse, 3 scales, 8 glimpses",
        dict(canvas_size=60, glimpse_size=12, n_scales=3, n_glimpses=8, n_clutter=0),
    ),
    "rnnagents/ClutteredMNIST60-v0": (
        "60x60 cluttered MNIST, 4 pieces of 8x8 clutter, 12x12 glimpse, 3 scales, 8 glimpses",
        dict(
            canvas_size=60, glimpse_size=12, n_scales=3, n_glimpses=8, n_clutter=4, clutter_size=8
        ),
    ),
    "rnnagents/ClutteredMNIST100-v0": (
        "100x100 cluttered MNIST, 8 pieces of 8x8 clutter, 12x12 glimpse, 4 scales, 8 glimpses",
        dict(
            canvas_size=100, glimpse_size=12, n_scales=4, n_glimpses=8, n_clutter=8, clutter_size=8
        ),
    ),
}


DREAM_ID = "rnnagents/Dream-v0"
DREAM_TEXT = "CarRacing dreamed by a trained world model (make it with run_dir=RUN_DIR)"


def register_envs() -> None:
    for env_id, (_, kwargs) in GLIMPSE_PRESETS.items():
        if env_id not in gym.registry:
            gym.register(env_id, entry_point=ENTRY, vector_entry_point=VECTOR_ENTRY, kwargs=kwargs)
    if DREAM_ID not in gym.registry:
        gym.register(DREAM_ID, entry_point="rnnagents.worldmodel.dream:DreamEnv")


def describe_envs() -> dict[str, str]:
    """One line per registered rnnagents id, for ``rnnagents env list``."""
    glimpse = {env_id: text for env_id, (text, _) in GLIMPSE_PRESETS.items()}
    return {**glimpse, DREAM_ID: DREAM_TEXT}


def is_glimpse_id(env_id: str) -> bool:
    """A registered id made by the glimpse env (the presets, or ids registered like them).

    Checked without ``gym.make``: a saved config's id is data, and ``gym.make("module:Env")``
    would import that module.
    """
    return env_id in gym.registry and gym.registry[env_id].entry_point == ENTRY
