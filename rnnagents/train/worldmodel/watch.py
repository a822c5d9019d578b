"""Film of a world model: the real frame, V's reconstruction, and a dream from the same start.

Left: the real CarRacing frame the controller drives on, in the very episode ``eval
worldmodel`` scores on that track (C plus the OU noise it is scored with, drawn alike). Middle:
V's reconstruction of it (what the agent "sees"). Right: a dream that starts from the same first
frame and is driven by C alone (as in its training), stepped by M alone: where the two drift
apart, M's model of the game is wrong.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rnnagents.agents.controller import BatchedController
from rnnagents.common.video import tile_frames, upscaled_rgb
from rnnagents.envs.carracing import FILM_FPS, eval_track_seeds, make_carracing
from rnnagents.envs.render import put_caption
from rnnagents.train.real_game import RealGame
from rnnagents.worldmodel.config import WorldModelConfig
from rnnagents.worldmodel.dream import BatchedDream
from rnnagents.worldmodel.mdnrnn import MDNRNN
from rnnagents.worldmodel.policy import ControllerFactory, WorldModelWeights
from rnnagents.worldmodel.run_files import (
    load_controller_params,
    load_dream_parts,
    run_config,
    scored_action_noise,
)
from rnnagents.worldmodel.vae import ConvVAE, frames_to_tensor

UPSCALE = 4


@torch.no_grad()
def film(
    run_dir: str | Path, episodes: int, max_steps: int | None = None, device: str = "auto"
) -> tuple[list[np.ndarray], int]:
    """(frames, fps) of ``episodes`` evaluation tracks, each frame [real | V(real) | dream].

    On the CPU whatever ``device`` says: the car is driven one frame at a time.
    """
    config = run_config(run_dir)
    vae, mdnrnn, _ = load_dream_parts(run_dir)
    params = load_controller_params(run_dir)
    noise = scored_action_noise(run_dir)
    game = RealGame(
        ControllerFactory.of(WorldModelWeights.of(vae, mdnrnn, config), params, noise),
        make_carracing,
        max_steps or config.collect_max_steps,
    )
    frames = []
    for track in eval_track_seeds(episodes):
        frames += film_episode(game, track, vae, mdnrnn, params, config)
    return frames, FILM_FPS


def film_episode(
    game: RealGame,
    track: int,
    vae: ConvVAE,
    mdnrnn: MDNRNN,
    params: np.ndarray,
    config: WorldModelConfig,
) -> list[np.ndarray]:
    """The frames of ``game``'s episode on ``track`` (its return so far in the caption), a
    dream of C beside it."""
    controller = BatchedController(params)
    env = make_carracing()
    frames, total, dream = [], 0.0, None
    try:
        for t, step in enumerate(game.episode(env, track)):
            mu, logvar = vae.encode(frames_to_tensor(step.frame[None]))
            if dream is None:
                generator = torch.Generator().manual_seed(track)
                dream = BatchedDream(
                    mdnrnn,
                    torch.stack([mu, logvar], 1),
                    config.dream_temperature,
                    generator,
                    config.dream_reward,
                )
                z, h = dream.reset(1)
            real = np.kron(step.frame, np.ones((UPSCALE, UPSCALE, 1), dtype=np.uint8))
            panels = [
                put_caption(real, f"real t={t} return={total:.0f}"),
                put_caption(upscaled_rgb(vae.decode(mu)[0].numpy(), UPSCALE), "V"),
                put_caption(upscaled_rgb(vae.decode(z)[0].numpy(), UPSCALE), "dream, C alone"),
            ]
            frames.append(tile_frames([panels]))
            total += step.reward
            z, h, _, _ = dream.step(controller.act(z, h))
    finally:
        env.close()
    return frames
