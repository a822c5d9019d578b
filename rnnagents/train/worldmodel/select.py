"""Choose a run's final controller among its rounds by real scores on training tracks.

CMA-ES keeps the ES mean of the last generation, and the dream that trained it may be exploited:
the real checks (4 training tracks each) of one run rose and fell by hundreds from one check to
the next. Every checked ES mean of every round is a candidate, and each needs its own round's M,
since C reads M's hidden state. Scoring candidates on a few more training tracks (never
evaluation tracks) and keeping the best is issue 13's lever 4; its real frames count in the
run's budget. With ``select_candidates`` only that many, those with the best real checks, are
scored again (and the last round's last ES mean, what a run without selection keeps): a check's
4 tracks sort the candidates cheaply, the fresh tracks undo the luck that sorting rewards.
With ``select_noises`` the chosen C is then scored with each noise std on tracks fresher still,
and the best std is stored with it: the right noise differs from one controller to the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnagents.common.checkpoint import load_checkpoint, save_checkpoint
from rnnagents.common.executor import Executor
from rnnagents.common.files import atomic_write_bytes
from rnnagents.envs.carracing import train_track_seeds
from rnnagents.train.real_game import score_real
from rnnagents.train.worldmodel.cmaes import KIND as CONTROLLER_KIND
from rnnagents.train.worldmodel.cmaes import checks_in
from rnnagents.worldmodel import run_files
from rnnagents.worldmodel.config import WorldModelConfig
from rnnagents.worldmodel.mdnrnn import load_mdnrnn
from rnnagents.worldmodel.policy import ControllerFactory, WorldModelWeights
from rnnagents.worldmodel.vae import load_vae


@dataclass(frozen=True, eq=False)  # one candidate is itself, whatever its params
class Candidate:
    name: str  # e.g. "iteration-3/gen-20"
    folder: Path  # the round's folder: its controller.pt and mdnrnn.pt
    params: np.ndarray
    check: float | None  # its real check's score (None: never checked)


def round_folders(run_dir: Path) -> list[Path]:
    """Each round's M and C: iteration-K/ (K = 0 holds the first round's, archived when round 1
    replaced them); a run without rounds keeps its one M and C at the top level."""
    rounds = sorted(
        run_dir.glob(f"{run_files.ITERATION_PREFIX}*"),
        key=lambda p: int(p.name.removeprefix(run_files.ITERATION_PREFIX)),
    )
    return rounds or [run_dir]


def round_candidates(run_dir: Path, rounds: int | None = None) -> list[Candidate]:
    """Every round's checked ES means (of the first ``rounds`` rounds only, when given), oldest
    first; a round never checked offers its last ES mean instead."""
    found = []
    for folder in round_folders(run_dir)[:rounds]:
        # a run without rounds: the name select archives it under
        name = run_files.iteration_dir(0) if folder == run_dir else folder.name
        ckpt = load_checkpoint(folder / run_files.CONTROLLER, expected_kind=CONTROLLER_KIND)
        checks = checks_in(ckpt)
        found += [
            Candidate(f"{name}/gen-{check.generation}", folder, check.params, check.real)
            for check in checks
        ]
        if not checks:
            found.append(Candidate(f"{name}/last", folder, ckpt["params"].numpy(), None))
    return found


def shortlist(candidates: list[Candidate], size: int) -> list[Candidate]:
    """The ``size`` candidates with the best real checks (all when ``size`` is 0), the unchecked
    ones and the last candidate (the last round's last ES mean) always included, in run order."""
    if size == 0:
        return candidates
    checked = [c for c in candidates if c.check is not None]
    best = sorted(checked, key=lambda c: c.check, reverse=True)[:size]
    kept = {id(c) for c in best} | {id(candidates[-1])}
    return [c for c in candidates if id(c) in kept or c.check is None]


def selection_tracks(config: WorldModelConfig) -> list[int]:
    """Training tracks past every one the run collected (the checks reuse the first few)."""
    past_every_round = config.first_episode(config.iterations + 1)
    return train_track_seeds(config.select_tracks, start=past_every_round)


def noise_tracks(config: WorldModelConfig) -> list[int]:
    """The training tracks after the selection tracks, where the chosen C's noises are scored:
    fresh ones, so the noise is not chosen on the tracks that favoured this C."""
    start = config.first_episode(config.iterations + 1) + config.select_tracks
    return train_track_seeds(config.select_tracks, start=start)


def _mean_real_return(
    executor: Executor,
    weights: WorldModelWeights,
    candidate: Candidate,
    noise: float,
    tracks: list[int],
    max_steps: int,
) -> float:
    factory = ControllerFactory.of(weights, candidate.params, noise)
    return float(np.mean(score_real(executor, factory, tracks, max_steps)))


def score_candidates(
    run_dir: Path, config: WorldModelConfig, candidates: list[Candidate], executor: Executor
) -> dict[str, float]:
    """Mean real return of each candidate (C plus the run's action noise) on the selection
    tracks, each with its own round's M and the run's V."""
    vae = load_vae(run_dir / run_files.VAE, config)
    tracks = selection_tracks(config)
    scores = {}
    for candidate in candidates:
        weights = WorldModelWeights.of(
            vae, load_mdnrnn(candidate.folder / run_files.MDNRNN, config), config
        )
        scores[candidate.name] = _mean_real_return(
            executor, weights, candidate, config.action_noise, tracks, config.collect_max_steps
        )
    return scores


def score_noises(
    run_dir: Path, config: WorldModelConfig, candidate: Candidate, executor: Executor
) -> dict[float, float]:
    """Mean real return of ``candidate`` with each of ``config.select_noise_stds()`` on the
    noise tracks."""
    vae = load_vae(run_dir / run_files.VAE, config)
    mdnrnn = load_mdnrnn(candidate.folder / run_files.MDNRNN, config)
    weights = WorldModelWeights.of(vae, mdnrnn, config)
    tracks = noise_tracks(config)
    return {
        noise: _mean_real_return(
            executor, weights, candidate, noise, tracks, config.collect_max_steps
        )
        for noise in config.select_noise_stds()
    }


@dataclass(frozen=True)
class Selection:
    scores: dict[str, float]  # candidate name -> mean real return on the selection tracks
    best: Candidate
    last: Candidate  # the last round's last ES mean: what a run without selection keeps
    frames: int  # an upper bound on the real frames the scoring used

    @classmethod
    def of(cls, candidates: list[Candidate], scores: dict[str, float], frames: int) -> Selection:
        """The best of ``candidates`` (in run order) by ``scores``."""
        scores = {candidate.name: scores[candidate.name] for candidate in candidates}
        best = max(candidates, key=lambda candidate: scores[candidate.name])
        return cls(scores=scores, best=best, last=candidates[-1], frames=frames)


def choose(
    run_dir: Path, config: WorldModelConfig, executor: Executor, rounds: int | None = None
) -> Selection:
    """Score the shortlisted round candidates of ``run_dir`` (of its first ``rounds`` rounds,
    when given) and name the best."""
    candidates = shortlist(round_candidates(run_dir, rounds), config.select_candidates)
    scores = score_candidates(run_dir, config, candidates, executor)
    return Selection.of(candidates, scores, _scoring_frames(config, len(candidates)))


def _scoring_frames(config: WorldModelConfig, scored: int) -> int:
    """An upper bound on the real frames of ``scored`` scores on ``select_tracks`` tracks."""
    return scored * config.select_tracks * config.collect_max_steps


@dataclass(frozen=True)
class NoiseChoice:
    scores: dict[float, float]  # noise std -> the chosen C's mean real return on the noise tracks
    best: float
    frames: int  # an upper bound on the real frames the scoring used


def choose_noise(
    run_dir: Path, config: WorldModelConfig, candidate: Candidate, executor: Executor
) -> NoiseChoice | None:
    """The noise std ``candidate`` scores best with on the noise tracks (the first listed on a
    tie, ``action_noise``); None when ``select_noises`` offers nothing to choose between."""
    if not config.select_noise_stds():
        return None
    scores = score_noises(run_dir, config, candidate, executor)
    best = max(scores, key=scores.get)
    return NoiseChoice(scores=scores, best=best, frames=_scoring_frames(config, len(scores)))


def save_candidate(candidate: Candidate, folder: Path, action_noise: float | None = None) -> None:
    """The candidate as ``folder``'s controller.pt and mdnrnn.pt (its round's checkpoint with
    the candidate's parameters, and its round's M); ``action_noise``, when the select stage
    chose one, goes into the checkpoint, where evaluation finds it."""
    folder.mkdir(parents=True, exist_ok=True)
    ckpt = load_checkpoint(candidate.folder / run_files.CONTROLLER, expected_kind=CONTROLLER_KIND)
    ckpt.pop("format_version", None)
    ckpt.pop(run_files.CHOSEN_NOISE, None)  # a run without rounds offers the C select promoted
    ckpt["params"] = ckpt["params"].new_tensor(candidate.params)
    if action_noise is not None:
        ckpt[run_files.CHOSEN_NOISE] = float(action_noise)
    save_checkpoint(folder / run_files.CONTROLLER, ckpt)
    source = candidate.folder / run_files.MDNRNN
    atomic_write_bytes(folder / run_files.MDNRNN, source.read_bytes())
