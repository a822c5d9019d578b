"""Film of a world model: the real frame, V's reconstruction, and a dream from the same start.

Left: the real CarRacing frame the controller drives on. Middle: V's reconstruction of it
(what the agent "sees"). Right: a dream that starts from the same first frame and is driven by
the same controller, stepped by M alone: where the two drift apart, M's model of the game is
wrong.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rnnagents.agents.controller import BatchedController
from rnnagents.common.video import tile_frames, upscaled_rgb
from rnnagents.envs.carracing import FILM_FPS, drive, eval_track_seeds, make_carracing
from rnnagents.envs.render import put_caption
from rnnagents.worldmodel.dream import BatchedDream
from rnnagents.worldmodel.policy import ControllerActor, WorldModelPolicy
from rnnagents.worldmodel.run_files import load_controller_params, load_dream_parts, run_config
from rnnagents.worldmodel.vae import frames_to_tensor

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
    policy = WorldModelPolicy(vae, mdnrnn, ControllerActor(params))
    controller = BatchedController(params)
    frames = []
    for track in eval_track_seeds(episodes):
        env = make_carracing()
        policy.reset()
        dream = None
        for t, step in enumerate(drive(env, policy, track, max_steps or config.collect_max_steps)):
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
                put_caption(real, f"real t={t}"),
                put_caption(upscaled_rgb(vae.decode(mu)[0].numpy(), UPSCALE), "V"),
                put_caption(upscaled_rgb(vae.decode(z)[0].numpy(), UPSCALE), "dream"),
            ]
            frames.append(tile_frames([panels]))
            z, h, _, _ = dream.step(controller.act(z, h))
        env.close()
    return frames, FILM_FPS
