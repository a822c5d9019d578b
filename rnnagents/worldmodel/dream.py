"""The dream: CarRacing as imagined by the world model (V's latents stepped by M).

:class:`BatchedDream` steps thousands of dreams at once in torch; that is where the controller
trains. :class:`DreamEnv` is the same dream as a Gymnasium env (one dream, numpy in and out,
rendered by decoding z with V), so any Gymnasium agent, SB3's included, can train in it.

A dream starts from the latent (mu, logvar) of a real episode's first frame, samples z from it,
and then at every step samples z_{t+1} from M's mixture at temperature tau. Its reward is one of
two ``DREAM_REWARDS``:

* ``"regression"``: M's reward head is the reward and its termination head (probability > 0.5)
  ends the dream. Measured on brownian data, the regressed reward blurs the sparse tile rewards
  and the -100 ends into a negative mean and the head never passes 0.5: no signal to drive.
* ``"events"``: CarRacing's reward assembled from M's event probabilities, ``p_tile`` (a new
  tile) and ``p_end`` (off the playfield): a step pays ``-0.1 + p_tile * tile_reward`` if the
  car stays on the playfield and -100 if not, and the dream survives the step with probability
  ``1 - p_end``. The reward returned is this step's expected reward times the probability of
  having survived so far, so a dream's return is the expected return of the sampled latent path
  (no Bernoulli noise on top of the latent noise); a dream is done once that probability falls
  below ``MIN_SURVIVAL``.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from rnnagents.common.video import upscaled_rgb
from rnnagents.envs.carracing import ACTION_HIGH, ACTION_LOW, OFF_PLAYFIELD_REWARD, STEP_REWARD
from rnnagents.worldmodel import run_files
from rnnagents.worldmodel.config import DREAM_REWARDS
from rnnagents.worldmodel.mdnrnn import MDNRNN, Heads, sample_mdn

DONE_THRESHOLD = 0.5
MIN_SURVIVAL = 1e-3
RENDER_UPSCALE = 4


def event_reward(heads: Heads, tile_reward: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(expected reward of the step, probability that it ends off the playfield)."""
    p_end = torch.sigmoid(heads.done_logit)
    on_field = STEP_REWARD + torch.sigmoid(heads.tile_logit) * tile_reward
    return (1.0 - p_end) * on_field + p_end * OFF_PLAYFIELD_REWARD, p_end


class BatchedDream:
    """N dreams advanced together by M; ``z`` [N, Z] and ``h`` [N, H] are what C reads."""

    def __init__(
        self,
        mdnrnn: MDNRNN,
        start_latents: torch.Tensor,
        temperature: float = 1.15,
        generator: torch.Generator | None = None,
        reward: str = "events",
    ) -> None:
        if start_latents.ndim != 3 or start_latents.shape[1] != 2:
            raise ValueError("start_latents must be [K, 2, z_dim] (mu, logvar of first frames)")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if reward not in DREAM_REWARDS:
            raise ValueError(f"reward must be one of {DREAM_REWARDS}, got {reward!r}")
        self.mdnrnn, self.reward = mdnrnn, reward
        self.start_latents = start_latents
        self.temperature = temperature
        self.generator = generator
        self.device = start_latents.device

    @torch.no_grad()
    def reset(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        pick = torch.randint(
            len(self.start_latents), (n,), device=self.device, generator=self.generator
        )
        mu, logvar = self.start_latents[pick, 0], self.start_latents[pick, 1]
        noise = torch.randn(mu.shape, device=self.device, generator=self.generator)
        self.z = mu + torch.exp(0.5 * logvar) * noise
        self.state = self.mdnrnn.initial_state(n, self.device)
        self.masks = self.mdnrnn.dream_masks(n, self.generator)  # one world per dream
        self.survival = torch.ones(n, device=self.device)
        self.done = torch.zeros(n, dtype=torch.bool, device=self.device)
        return self.z, self.state[0]

    @torch.no_grad()
    def step(self, actions: torch.Tensor):
        """(z, h, reward, done) after ``actions`` [N, 3]; finished dreams keep reporting done."""
        out, heads, self.state = self.mdnrnn.step(self.z, actions, self.state, self.masks)
        self.z = sample_mdn(out, self.temperature, self.generator)
        if self.reward == "regression":
            reward = heads.reward
            self.done = self.done | (torch.sigmoid(heads.done_logit) > DONE_THRESHOLD)
        else:
            expected, p_end = event_reward(heads, self.mdnrnn.tile_reward)
            reward = self.survival * expected
            self.survival = self.survival * (1.0 - p_end)
            self.done = self.done | (self.survival < MIN_SURVIVAL)
        return self.z, self.state[0], reward, self.done


class DreamEnv(gym.Env):
    """
    ## Description
    One CarRacing dream of a trained world model. Observation: the controller's input
    ``[z, h]`` (V's latent, M's LSTM state); action: CarRacing's (steer, gas, brake).

    ## Rewards
    The dream's reward (``reward``: "events" or "regression", see the module docstring).

    ## Episode End
    Terminates when the dream is done (see the module docstring); truncates after
    ``max_steps`` steps.

    ## Arguments
    ``run_dir`` (a world-model run directory) or the modules themselves (``vae``, ``mdnrnn``,
    ``start_latents``); ``temperature`` (tau, default 1.15), ``max_steps`` (1000), ``reward``
    (default: the run's ``dream_reward``, else "events"),
    ``render_mode`` ("rgb_array": V's decoding of z, 64x64 upscaled 4x).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(
        self,
        run_dir: str | None = None,
        *,
        vae=None,
        mdnrnn: MDNRNN | None = None,
        start_latents: torch.Tensor | None = None,
        temperature: float = 1.15,
        max_steps: int = 1000,
        render_mode: str | None = None,
        reward: str | None = None,
    ) -> None:
        if run_dir is not None:
            vae, mdnrnn, start_latents = run_files.load_dream_parts(run_dir)
            reward = reward or run_files.run_config(run_dir).dream_reward
        if mdnrnn is None or start_latents is None:
            raise ValueError("DreamEnv needs run_dir, or mdnrnn and start_latents")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        self.vae, self.max_steps, self.render_mode = vae, max_steps, render_mode
        self.generator = torch.Generator(device=start_latents.device)
        self.dream = BatchedDream(
            mdnrnn, start_latents, temperature, self.generator, reward or "events"
        )
        z_dim, hidden = start_latents.shape[-1], mdnrnn.initial_state(1)[0].shape[-1]
        self.observation_space = spaces.Box(-np.inf, np.inf, (z_dim + hidden,), np.float32)
        self.action_space = spaces.Box(ACTION_LOW, ACTION_HIGH, dtype=np.float32)
        self._steps = -1

    def _obs(self, z: torch.Tensor, h: torch.Tensor) -> np.ndarray:
        return torch.cat([z[0], h[0]]).cpu().numpy().astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.generator.manual_seed(int(self.np_random.integers(2**63 - 1)))
        self._steps = 0
        return self._obs(*self.dream.reset(1)), {}

    def step(self, action):
        if self._steps < 0:
            raise gym.error.ResetNeeded("step() called before reset()")
        action = np.asarray(action, dtype=np.float32)
        if action.shape != (3,) or not np.all(np.isfinite(action)):
            raise ValueError(f"action must be 3 finite numbers, got {action!r}")
        if not self.action_space.contains(action):
            raise ValueError(f"action {action.tolist()} is outside {self.action_space}")
        device = self.dream.device
        z, h, reward, done = self.dream.step(torch.as_tensor(action, device=device)[None])
        self._steps += 1
        truncated = self._steps >= self.max_steps
        return self._obs(z, h), float(reward[0]), bool(done[0]), truncated, {}

    @torch.no_grad()
    def render(self):
        if self.render_mode != "rgb_array" or self.vae is None:
            return None
        return upscaled_rgb(self.vae.decode(self.dream.z[:1])[0].cpu().numpy(), RENDER_UPSCALE)
