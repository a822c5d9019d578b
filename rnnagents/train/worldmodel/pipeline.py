"""The World Models pipeline: collect -> V -> encode -> M -> C in the dream -> evaluate.

With ``iterations`` N > 0, N rounds of collect -> encode -> M -> C follow before evaluate
(stages ``collect-1`` ... ``controller-N``): the current controller plus exploration noise
collects new training tracks, M is retrained on every episode so far, and CMA-ES continues
from the current controller in the new dream. V is kept. Round k trains into ``iteration-k/``
and then promotes its M and C to the run's top level (the previous ones are archived in
``iteration-{k-1}/``), so the top level always holds the latest world model. With
``select_tracks`` > 0 a ``select`` stage then scores every round's candidates on training
tracks and promotes the best one's M and C (``select.py``), and with ``select_noises`` also
chooses the OU noise on the chosen C's actions that evaluation uses.

Each stage writes into the run directory and ends by writing a marker in ``stages/``; a stage
whose marker exists is skipped, and a stage cut short resumes from its own partial outputs
(complete shards are kept, training resumes from its last checkpoint), so an interrupted
pipeline picks up where it stopped and a half-written output is never taken as complete.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import torch

from rnnagents.common.device import resolve_device
from rnnagents.common.executor import Executor, make_executor
from rnnagents.common.files import atomic_write_bytes
from rnnagents.common.run_dir import start_run_dir
from rnnagents.common.run_logger import RunLogger, StageLogger
from rnnagents.common.video import write_video
from rnnagents.envs.carracing import train_track_seeds
from rnnagents.train.real_game import score_real
from rnnagents.train.worldmodel.cmaes import train_controller
from rnnagents.train.worldmodel.evaluate import evaluate_worldmodel
from rnnagents.train.worldmodel.fit import train_mdnrnn, train_vae
from rnnagents.train.worldmodel.select import choose, choose_noise, save_candidate
from rnnagents.train.worldmodel.watch import film
from rnnagents.worldmodel import run_files
from rnnagents.worldmodel.collect import collect, summary_file
from rnnagents.worldmodel.config import WorldModelConfig
from rnnagents.worldmodel.dream import BatchedDream
from rnnagents.worldmodel.encode import encode_shards
from rnnagents.worldmodel.mdnrnn import load_mdnrnn
from rnnagents.worldmodel.policy import ControllerFactory, WorldModelWeights
from rnnagents.worldmodel.run_files import load_controller_params, start_latents
from rnnagents.worldmodel.shards import ShardError
from rnnagents.worldmodel.vae import load_vae

AGENT = "worldmodel"
EVALUATE_STAGE = "evaluate"
STAGES = ("collect", "vae", "encode", "mdnrnn", "controller", EVALUATE_STAGE)
ITERATION_STAGES = ("collect", "encode", "mdnrnn", "controller")
SELECT_STAGE = "select"  # after the last round, with select_tracks > 0
DREAM_VS_REAL_STEPS = 200  # frames of the video logged after each controller stage (4 s)


def stage_name(stage: str, iteration: int = 0) -> str:
    """``stage`` in round ``iteration``: ``controller`` in round 0, ``controller-3`` in round 3."""
    return f"{stage}-{iteration}" if iteration else stage


def pipeline_stages(config: WorldModelConfig) -> list[str]:
    """Every stage of a run in order, the iteration rounds before the final evaluation."""
    rounds = [
        stage_name(stage, k) for k in range(1, config.iterations + 1) for stage in ITERATION_STAGES
    ]
    select = [SELECT_STAGE] if config.select_tracks else []
    return [*STAGES[:-1], *rounds, *select, STAGES[-1]]


class PipelineStopped(Exception):
    """A stage was stopped by Ctrl-C after saving its checkpoint; its marker is not written."""


class Pipeline:
    """One world-model run directory and the stages that fill it."""

    def __init__(
        self,
        run_dir: str | Path,
        config: WorldModelConfig,
        executor: Executor,
        logger: RunLogger,
        progress: bool = True,
    ) -> None:
        self.run_dir, self.config, self.executor = Path(run_dir), config, executor
        self.logger, self.progress = logger, progress
        self.device = resolve_device(config.device)

    def path(self, name: str) -> Path:
        return self.run_dir / name

    def run_stage(self, stage: str, force: bool = False) -> None:
        """Run ``stage`` unless its marker says it is complete (``force``: run it anyway)."""
        stages = pipeline_stages(self.config)
        if stage not in stages:
            raise ValueError(f"unknown stage {stage!r}; this run's stages are {stages}")
        if run_files.stage_done(self.run_dir, stage) and not force:
            print(f"[{stage}] complete, skipped")
            return
        start = time.perf_counter()
        name, _, iteration = stage.partition("-")
        method = getattr(self, f"stage_{name}")
        try:
            summary = (method(int(iteration)) if iteration else method()) or {}
        except ShardError as err:  # a shard damaged after the stage that wrote it was done
            raise ShardError(f"{err}. {self.shard_fix(str(err))}") from err
        summary["seconds"] = round(time.perf_counter() - start, 1)
        run_files.mark_stage_done(self.run_dir, stage, summary)
        print(f"[{stage}] done in {summary['seconds']} s")

    def shard_fix(self, error: str) -> str:
        """What to run about a damaged shard, named in ``error``'s path."""
        resume = f"then `rnnagents train worldmodel --resume {self.run_dir}`"
        if f"/{run_files.LATENTS}/" in error:
            return (
                f"Delete that file and {self.run_dir}/{run_files.STAGES}/encode*.json (encode "
                f"writes it again from its frames), {resume}"
            )
        seed = re.search(r"episode_(\d+)", error)
        if seed and int(seed.group(1)) < self.config.first_episode(1):  # a first-round episode
            return f"`rnnagents collect --run-dir {self.run_dir}` collects it again, {resume}"
        return (
            f"Delete that file and the markers of its iteration round and the rounds after it "
            f"in {self.run_dir}/{run_files.STAGES}/, {resume}"
        )

    def run_all(self) -> None:
        for stage in pipeline_stages(self.config):
            self.run_stage(stage)

    def _promote(self, trained: Path, name: str, iteration: int) -> None:
        """Make round ``iteration``'s ``trained`` file the run's current ``name``, archiving the
        one it replaces (a copy each, atomically, so a cut at any point loses nothing)."""
        current = self.path(name)
        archive = self.path(run_files.iteration_dir(iteration - 1)) / name
        if not archive.exists():
            archive.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(archive, current.read_bytes())
        atomic_write_bytes(current, trained.read_bytes())

    # -- stages ----------------------------------------------------------------------------
    def stage_collect(self, iteration: int = 0) -> dict:
        c = self.config
        if iteration == 0:
            return collect(
                self.path(run_files.ROLLOUTS),
                c.collect_episodes,
                c.collect_max_steps,
                None,
                self.executor,
                self.progress,
                policy_seed=c.seed,
                follow_fraction=c.collect_follow_fraction,
                follow_noise=c.collect_follow_noise,
            )
        first = c.first_episode(iteration)
        explorer = ControllerFactory.of(
            WorldModelWeights.of_run(self.run_dir),
            load_controller_params(self.run_dir),
            c.iteration_noise,
        )
        return collect(
            self.path(run_files.ROLLOUTS),
            c.iteration_episodes,
            c.collect_max_steps,
            train_track_seeds(c.iteration_episodes, start=first),
            self.executor,
            self.progress,
            policy_seed=c.seed + iteration,
            controller=explorer,
            summary_file=summary_file(iteration),
        )

    def _train_network(self, stage: str, train, source: str, target: str) -> dict:
        """Train V or M from ``source`` into the checkpoint ``target``; a Ctrl-C stops the run."""
        self.path(target).parent.mkdir(parents=True, exist_ok=True)
        finished = train(
            self.path(source),
            self.path(target),
            self.config,
            self.device,
            StageLogger(self.logger),
            self.progress,
        )
        if not finished:
            raise PipelineStopped(stage)
        self.logger.log_artifact(self.path(target), f"{stage}-{self.run_dir.name}")
        return {}

    def stage_vae(self) -> dict:
        return self._train_network("vae", train_vae, run_files.ROLLOUTS, run_files.VAE)

    def stage_encode(self, iteration: int = 0) -> dict:
        """Encode every shard not yet encoded by the current V (a round's new episodes)."""
        vae = load_vae(self.path(run_files.VAE), self.config, self.device)
        paths = encode_shards(
            vae,
            self.path(run_files.ROLLOUTS),
            self.path(run_files.LATENTS),
            self.device,
            progress=self.progress,
        )
        return {"episodes": len(paths)}

    def stage_mdnrnn(self, iteration: int = 0) -> dict:
        if iteration == 0:
            return self._train_network("mdnrnn", train_mdnrnn, run_files.LATENTS, run_files.MDNRNN)
        trained = f"{run_files.iteration_dir(iteration)}/{run_files.MDNRNN}"
        self._train_network(
            stage_name("mdnrnn", iteration), train_mdnrnn, run_files.LATENTS, trained
        )
        self._promote(self.path(trained), run_files.MDNRNN, iteration)
        return {}

    def stage_controller(self, iteration: int = 0) -> dict:
        c = self.config
        out_dir = self.path(run_files.iteration_dir(iteration)) if iteration else self.run_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        x0 = load_controller_params(self.run_dir) if iteration else None
        mdnrnn = load_mdnrnn(self.path(run_files.MDNRNN), c, self.device)
        starts = start_latents(self.path(run_files.LATENTS), self.device)
        dream = BatchedDream(
            mdnrnn,
            starts,
            c.dream_temperature,
            torch.Generator(device=self.device),
            c.dream_reward,
        )
        check_tracks = train_track_seeds(c.real_check_episodes)
        weights = WorldModelWeights.of_run(self.run_dir)

        def real_score(params: np.ndarray) -> float:
            factory = ControllerFactory.of(weights, params, c.action_noise)
            return float(
                np.mean(score_real(self.executor, factory, check_tracks, c.collect_max_steps))
            )

        train_controller(
            out_dir,
            dream,
            popsize=c.cmaes_popsize,
            rollouts=c.cmaes_rollouts,
            generations=c.cmaes_generations,
            max_steps=c.dream_max_steps,
            seed=c.seed + iteration,
            logger=StageLogger(self.logger),
            config=c.as_dict(),
            real_scorer=real_score,
            real_check_every=c.real_check_every,
            progress=self.progress,
            x0=x0,
            pick_by_real=c.real_check_pick,
            action_noise=c.dream_action_noise,
        )
        if iteration:
            self._promote(out_dir / run_files.CONTROLLER, run_files.CONTROLLER, iteration)
        self.logger.log_artifact(self.path(run_files.CONTROLLER), f"controller-{self.run_dir.name}")
        if self.logger.wandb_id is not None:
            self.log_dream_vs_real(stage_name("controller", iteration))
        return {}

    def stage_select(self) -> dict:
        """Promote the round candidate that scores best on the selection tracks."""
        c = self.config
        chosen = choose(self.run_dir, c, self.executor)
        noise = choose_noise(self.run_dir, c, chosen.best, self.executor)
        save_candidate(chosen.best, self.path(SELECT_STAGE), None if noise is None else noise.best)
        for name in (run_files.MDNRNN, run_files.CONTROLLER):
            self._promote(self.path(SELECT_STAGE) / name, name, c.iterations + 1)
        best, last = chosen.scores[chosen.best.name], chosen.scores[chosen.last.name]
        logged = {"select/best": best, "select/last": last}
        summary = {"chosen": chosen.best.name, "scores": chosen.scores, "frames": chosen.frames}
        print(f"[select] {chosen.best.name}: {best:.1f} (the last round's C: {last:.1f})")
        if noise is not None:
            logged["select/action_noise"] = noise.best
            summary["action_noise"] = noise.best
            summary["noise_scores"] = {str(std): score for std, score in noise.scores.items()}
            summary["frames"] += noise.frames
            chosen_score = noise.scores[noise.best]
            print(f"[select] action noise {noise.best} ({chosen_score:.1f} on fresh tracks)")
        self.logger.log(logged, step=self.logger.last_step + 1)
        return summary

    def log_dream_vs_real(self, name: str) -> Path:
        """Film the current controller on one evaluation track, real beside dream, for W&B."""
        frames, fps = film(self.run_dir, episodes=1, max_steps=DREAM_VS_REAL_STEPS)
        video = write_video(frames, self.path(f"media/dream_vs_real_{name}.mp4"), fps=fps)
        self.logger.log_video("media/dream_vs_real", video, step=self.logger.last_step)
        return video

    def stage_evaluate(self) -> dict:
        report = evaluate_worldmodel(self.run_dir, self.config.eval_episodes, self.executor)
        means = {"controller": report["mean"], "dream": report["dream"]["mean"]}
        means.update({name: part["mean"] for name, part in report["baselines"].items()})
        self.logger.log(
            {f"eval/{name}_mean": mean for name, mean in means.items()},
            step=self.logger.last_step + 1,
        )
        return means


def open_pipeline(
    config: WorldModelConfig,
    run_dir: str | Path,
    *,
    new: bool,
    wandb: bool = False,
    progress: bool = True,
    backend: str = "process",
    ray_address: str | None = None,
):
    """(pipeline, executor, logger) for a new or an existing run; close both when done.

    ``backend`` and ``ray_address`` say where real episodes run (``make_executor``); they are
    not part of the run: a resume may run them elsewhere.
    """
    run_dir = Path(run_dir)
    resolve_device(config.device)  # a bad device or backend fails before a new run exists
    executor = make_executor(config.workers, backend, ray_address)
    if new:
        try:
            start_run_dir(run_dir, config.as_dict(), AGENT)
        except BaseException:
            executor.close()
            raise
    logger = RunLogger(
        run_dir,
        config.as_dict(),
        wandb=wandb,
        run_name=run_dir.name,
        project="rnnagents-worldmodel",
    )
    return Pipeline(run_dir, config, executor, logger, progress), executor, logger
