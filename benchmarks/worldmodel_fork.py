"""A paired lever test for the late rounds of a World Models run: copy a finished run, keep its
rounds before K and round K's collected data, and let M and C of round K on retrain with
config overrides.

Runs of one configuration from scratch span hundreds of points (the pipeline is chaotic), so a
lever tried from round 0 needs many seeds to be sized. A fork shares everything up to round K
with its source, bit for bit on the same machine, and so isolates what a lever does to the
rounds that follow. Round K's data stays because it was collected with round K-1's C, before
any lever could act. Then ``rnnagents train worldmodel --resume FORK`` runs the rest.

    python benchmarks/worldmodel_fork.py RUN FORK --round K --set mdn_recurrent_dropout=0.05
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path

from rnnagents.common.files import atomic_write_bytes
from rnnagents.common.run_dir import start_run_dir
from rnnagents.common.stats import EVAL_FILE
from rnnagents.train.real_game import PROGRESS_FILE
from rnnagents.train.worldmodel.pipeline import (
    EVALUATE_STAGE,
    ITERATION_STAGES,
    SELECT_STAGE,
    stage_name,
)
from rnnagents.worldmodel import run_files
from rnnagents.worldmodel.collect import summary_file
from rnnagents.worldmodel.shards import list_shards


def overrides(pairs: list[str]) -> dict:
    """``key=value`` pairs, each value read as JSON (``0.05``, ``true``, ``"events"``)."""
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--set {pair!r}: expected key=value")
        try:
            parsed[key] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key] = value  # a bare string
    return parsed


def fork(source: Path, target: Path, round_k: int, changes: dict) -> None:
    config = run_files.run_config(source)
    if not 1 <= round_k <= config.iterations:
        raise ValueError(f"--round must be in 1..{config.iterations} for {source}")
    if not run_files.stage_done(source, stage_name("encode", round_k)):
        raise ValueError(f"{source} has not encoded round {round_k}'s data yet")
    unknown = sorted(set(changes) - set(config.as_dict()))
    if unknown:
        raise ValueError(f"not config fields: {', '.join(unknown)}")
    forked = replace(config, **changes)  # validates the new values before anything is copied
    if target.exists():
        raise FileExistsError(f"{target} exists; a fork goes into a new directory")
    shutil.copytree(source, target)
    later = [(stage, round_k) for stage in ITERATION_STAGES[2:]] + [
        (stage, k) for k in range(round_k + 1, config.iterations + 1) for stage in ITERATION_STAGES
    ]
    markers = [stage_name(stage, k) for stage, k in later] + [SELECT_STAGE, EVALUATE_STAGE]
    for marker in markers:
        (target / run_files.STAGES / f"{marker}.json").unlink(missing_ok=True)
    for k in range(round_k, config.iterations + 1):
        shutil.rmtree(target / run_files.iteration_dir(k), ignore_errors=True)
    shutil.rmtree(target / SELECT_STAGE, ignore_errors=True)
    for name in (EVAL_FILE, PROGRESS_FILE):
        (target / name).unlink(missing_ok=True)
    first_later = config.first_episode(round_k + 1)
    for folder in (run_files.ROLLOUTS, run_files.LATENTS):
        for shard in list_shards(target / folder):
            if int(shard.stem.rsplit("_", 1)[1]) >= first_later:
                shard.unlink()
    for k in range(round_k + 1, config.iterations + 1):
        (target / run_files.ROLLOUTS / summary_file(k)).unlink(missing_ok=True)
    previous = target / run_files.iteration_dir(round_k - 1)
    for name in (run_files.MDNRNN, run_files.CONTROLLER):  # where round K starts from
        shutil.copy2(previous / name, target / name)
    cut = (target / run_files.STAGES / f"{stage_name('encode', round_k)}.json").stat().st_mtime
    metrics = target / "metrics.jsonl"
    kept = [line for line in metrics.read_text().splitlines() if json.loads(line)["time"] <= cut]
    atomic_write_bytes(metrics, "".join(f"{line}\n" for line in kept).encode())
    start_run_dir(target, forked.as_dict(), run_files.AGENT, resume=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="the source run (not changed)")
    parser.add_argument("fork", type=Path, help="the new run directory")
    parser.add_argument("--round", type=int, required=True, help="first round to retrain")
    parser.add_argument("--set", action="append", default=[], help="config override key=value")
    args = parser.parse_args(argv)
    try:
        changes = overrides(args.set)
        fork(args.run, args.fork, args.round, changes)
    except (OSError, ValueError, TypeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"RESULT fork={args.fork} round={args.round} overrides={json.dumps(changes)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
