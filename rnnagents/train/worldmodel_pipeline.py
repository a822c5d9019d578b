"""The World Models pipeline: collect -> V -> encode -> M -> C in the dream -> evaluate.

Each stage writes into the run directory and ends by writing a marker in ``stages/``; a stage
whose marker exists is skipped, and a stage cut short resumes from its own partial outputs
(complete shards are kept, training resumes from its last checkpoint), so an interrupted
pipeline picks up where it stopped and a half-written output is never taken as complete.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from rnnagents.envs.dream import BatchedDream
from rnnagents.train.config import resolve_device
from rnnagents.train.controller_cmaes import train_controller
from rnnagents.train.run_dir import start_run_dir
from rnnagents.train.run_logger import RunLogger, StageLogger
from rnnagents.train.worldmodel_eval import evaluate_worldmodel
from rnnagents.worldmodel import run_files
from rnnagents.worldmodel.collect import collect, train_track_seeds
from rnnagents.worldmodel.config import WorldModelConfig
from rnnagents.worldmodel.executor import Executor, make_executor
from rnnagents.worldmodel.load import start_latents
from rnnagents.worldmodel.mdnrnn import load_mdnrnn, train_mdnrnn
from rnnagents.worldmodel.real_eval import score_real
from rnnagents.worldmodel.vae import encode_shards, load_vae, train_vae

AGENT = "worldmodel"
STAGES = ("collect", "vae", "encode", "mdnrnn", "controller", "evaluate")


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
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; stages are {STAGES}")
        if run_files.stage_done(self.run_dir, stage) and not force:
            print(f"[{stage}] complete, skipped")
            return
        start = time.perf_counter()
        summary = getattr(self, f"stage_{stage}")() or {}
        summary["seconds"] = round(time.perf_counter() - start, 1)
        run_files.mark_stage_done(self.run_dir, stage, summary)
        print(f"[{stage}] done in {summary['seconds']} s")

    def run_all(self) -> None:
        for stage in STAGES:
            self.run_stage(stage)

    # -- stages ----------------------------------------------------------------------------
    def stage_collect(self) -> dict:
        c = self.config
        return collect(
            self.path(run_files.ROLLOUTS),
            c.collect_episodes,
            c.collect_max_steps,
            None,
            self.executor,
            self.progress,
            policy_seed=c.seed,
        )

    def _train_network(self, stage: str, train, source: str, target: str) -> dict:
        """Train V or M from ``source`` into the checkpoint ``target``; a Ctrl-C stops the run."""
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

    def stage_encode(self) -> dict:
        vae = load_vae(self.path(run_files.VAE), self.config, self.device)
        paths = encode_shards(
            vae,
            self.path(run_files.ROLLOUTS),
            self.path(run_files.LATENTS),
            self.device,
            progress=self.progress,
        )
        return {"episodes": len(paths)}

    def stage_mdnrnn(self) -> dict:
        return self._train_network("mdnrnn", train_mdnrnn, run_files.LATENTS, run_files.MDNRNN)

    def stage_controller(self) -> dict:
        c = self.config
        mdnrnn = load_mdnrnn(self.path(run_files.MDNRNN), c, self.device)
        starts = start_latents(self.path(run_files.LATENTS), self.device)
        dream = BatchedDream(
            mdnrnn, starts, c.dream_temperature, torch.Generator(device=self.device)
        )
        check_tracks = train_track_seeds(c.real_check_episodes)

        def real_score(params: np.ndarray) -> float:
            return float(
                np.mean(
                    score_real(
                        self.executor,
                        "controller",
                        check_tracks,
                        c.collect_max_steps,
                        str(self.run_dir),
                        params,
                    )
                )
            )

        train_controller(
            self.run_dir,
            dream,
            popsize=c.cmaes_popsize,
            rollouts=c.cmaes_rollouts,
            generations=c.cmaes_generations,
            max_steps=c.dream_max_steps,
            seed=c.seed,
            logger=StageLogger(self.logger),
            config=c.as_dict(),
            real_scorer=real_score,
            real_check_every=c.real_check_every,
            progress=self.progress,
        )
        self.logger.log_artifact(self.path(run_files.CONTROLLER), f"controller-{self.run_dir.name}")
        return {}

    def stage_evaluate(self) -> dict:
        report = evaluate_worldmodel(self.run_dir, self.config.eval_episodes, self.executor)
        self.logger.log(
            {
                f"eval/{name}_mean": part["mean"]
                for name, part in report.items()
                if isinstance(part, dict)
            },
            step=self.logger.last_step + 1,
        )
        return {name: part["mean"] for name, part in report.items() if isinstance(part, dict)}


def open_pipeline(
    config: WorldModelConfig,
    run_dir: str | Path,
    *,
    new: bool,
    wandb: bool = False,
    progress: bool = True,
):
    """(pipeline, executor, logger) for a new or an existing run; close both when done."""
    run_dir = Path(run_dir)
    if new:
        start_run_dir(run_dir, config.as_dict(), AGENT)
    executor = make_executor(config.workers)
    logger = RunLogger(
        run_dir,
        config.as_dict(),
        wandb=wandb,
        run_name=run_dir.name,
        project="rnnagents-worldmodel",
    )
    return Pipeline(run_dir, config, executor, logger, progress), executor, logger
