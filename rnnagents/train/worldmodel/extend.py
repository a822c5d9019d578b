"""More rounds for an existing World Models run: ``train worldmodel --resume RUN --iterations N``.

A run's rounds do not depend on how many follow them (each round's tracks and seeds come from
its index), so a run given more rounds continues exactly as a fresh run with that many would.
Only the stages after the last round depend on the count: ``select`` promoted one round's M
and C to the top level, and ``evaluate`` scored it. Those are undone, nothing deleted: their
outputs move to ``results-with-K-iterations/``, the last round's own M and C go back to the
top level (where the next round starts from), and the config then says N, written last so a
cut at any point leaves a run that resumes.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from rnnagents.common.files import atomic_write_bytes
from rnnagents.common.run_dir import start_run_dir
from rnnagents.common.stats import EVAL_FILE
from rnnagents.train.real_game import PROGRESS_FILE
from rnnagents.train.worldmodel.pipeline import EVALUATE_STAGE, SELECT_STAGE, stage_name
from rnnagents.worldmodel import run_files
from rnnagents.worldmodel.config import WorldModelConfig


def archive_dir(iterations: int) -> str:
    """Where a run's select and evaluate outputs go when it gets more rounds than ``iterations``."""
    return f"results-with-{iterations}-iterations"


def add_rounds(run_dir: str | Path, config: WorldModelConfig, iterations: int) -> WorldModelConfig:
    """``config`` (the run's own) with ``iterations`` rounds, the run directory made to match."""
    run_dir = Path(run_dir)
    if iterations < config.iterations:
        raise ValueError(
            f"--iterations {iterations}: {run_dir} already has {config.iterations} rounds; "
            "a run can get more rounds, never fewer (start a new run instead)"
        )
    if iterations == config.iterations:
        return config
    # Markers first: from then on a cut leaves stages that a plain resume runs again.
    archive = run_dir / archive_dir(config.iterations)
    stages = run_dir / run_files.STAGES
    markers = [stages / f"{stage}.json" for stage in (SELECT_STAGE, EVALUATE_STAGE)]
    _move([(marker, f"stage-{marker.name}") for marker in markers], archive)
    last_round = run_dir / run_files.iteration_dir(config.iterations)
    last_stage = stage_name("controller", config.iterations)
    promoted = (last_round / run_files.CONTROLLER).exists()  # round 0's: archived by select
    if run_files.stage_done(run_dir, last_stage) and promoted:  # select may have promoted another
        for name in (run_files.MDNRNN, run_files.CONTROLLER):
            atomic_write_bytes(run_dir / name, (last_round / name).read_bytes())
    outputs = [run_dir / SELECT_STAGE, run_dir / EVAL_FILE, run_dir / PROGRESS_FILE]
    _move([(path, path.name) for path in outputs], archive)
    extended = replace(config, iterations=iterations)
    start_run_dir(run_dir, extended.as_dict(), run_files.AGENT, resume=True)
    return extended


def _move(moves: list[tuple[Path, str]], archive: Path) -> None:
    """Each existing path into ``archive`` under its new name (replacing an earlier copy)."""
    for path, name in moves:
        if path.exists():
            archive.mkdir(exist_ok=True)
            target = archive / name
            if target.is_dir():
                shutil.rmtree(target)
            path.replace(target)
