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
from rnnagents.agents.worldmodel_policy import ControllerActor, WorldModelPolicy
from rnnagents.envs.carracing import drive, make_carracing
from rnnagents.envs.dream import BatchedDream
from rnnagents.envs.render import put_caption
from rnnagents.train.video import tile_frames
from rnnagents.worldmodel.collect import eval_track_seeds
from rnnagents.worldmodel.load import load_controller_params, load_dream_parts
from rnnagents.worldmodel.run_files import run_config
from rnnagents.worldmodel.vae import frames_to_tensor

FPS = 25
UPSCALE = 4


def _image(x: torch.Tensor) -> np.ndarray:
    """[3, 64, 64] in [0, 1] -> upscaled uint8 RGB."""
    image = (x.permute(1, 2, 0).clamp(0, 1) * 255).to(torch.uint8).cpu().numpy()
    return np.kron(image, np.ones((UPSCALE, UPSCALE, 1), dtype=np.uint8))


@torch.no_grad()
def worldmodel_film(run_dir: str | Path, episodes: int, max_steps: int | None = None) -> list:
    """Frames of ``episodes`` evaluation tracks, each [real | V(real) | dream]."""
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
                    mdnrnn, torch.stack([mu, logvar], 1), config.dream_temperature, generator
                )
                z, h = dream.reset(1)
            real = np.kron(step.frame, np.ones((UPSCALE, UPSCALE, 1), dtype=np.uint8))
            panels = [
                put_caption(real, f"real t={t}"),
                put_caption(_image(vae.decode(mu)[0]), "V"),
                put_caption(_image(vae.decode(z)[0]), "dream"),
            ]
            frames.append(tile_frames([panels]))
            z, h, _, _ = dream.step(controller.act(z, h))
        env.close()
    return frames
