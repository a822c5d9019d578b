"""Issue 13's lever 4 measured after the fact: choose a finished World Models run's final C
among its rounds by real scores on training tracks, as the ``select`` stage
(``--select-tracks``) does inside a run made with it.

``--out DIR`` writes a copy of the run whose current M and C are the winner's, so that
``rnnagents eval worldmodel DIR`` scores it on the unseen tracks. ``--rounds N`` chooses among
the first N rounds only (what a shorter run would have offered), and ``--select-scores`` reuses
the scores of the run's own ``select`` stage instead of playing again (no new frames). Last line:
``RESULT best=ROUND/gen-G best_score=... last_score=... frames=...`` (frames: an upper bound
on the real frames the scoring used, which count in the run's budget).

    python benchmarks/worldmodel_pick.py RUN [--tracks 8] [--workers 2] [--rounds N]
        [--select-scores] [--out DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
from pathlib import Path

from common import report

from rnnagents.common.executor import make_executor
from rnnagents.train.worldmodel.pipeline import SELECT_STAGE
from rnnagents.train.worldmodel.select import (
    Selection,
    choose,
    round_candidates,
    save_candidate,
    selection_tracks,
)
from rnnagents.worldmodel import run_files


def reuse_select_scores(run: Path, rounds: int | None) -> Selection:
    """The best candidate of the first ``rounds`` rounds by the run's own select stage scores."""
    summary = run / run_files.STAGES / f"{SELECT_STAGE}.json"
    if not summary.exists():
        sys.exit(f"{run} has no select stage ({summary} is missing): leave out --select-scores")
    scores = json.loads(summary.read_text())["scores"]
    candidates = [c for c in round_candidates(run, rounds) if c.name in scores]
    if not candidates:
        sys.exit(f"the select stage of {run} scored none of the first {rounds} rounds' candidates")
    return Selection.of(candidates, scores, frames=0)  # its frames count in the run already


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run", type=Path, help="a finished World Models run directory")
    parser.add_argument("--tracks", type=int, default=8, help="training tracks per candidate")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, help="choose among the first N rounds only")
    parser.add_argument(
        "--select-scores", action="store_true", help="reuse the run's select stage scores"
    )
    parser.add_argument("--out", type=Path, help="write the winner as a run directory here")
    args = parser.parse_args()
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds must be at least 1")
    try:
        config = run_files.run_config(args.run)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    if not args.select_scores:  # the run's own selection tracks otherwise
        config = dataclasses.replace(config, select_tracks=args.tracks)
    if args.select_scores:
        chosen = reuse_select_scores(args.run, args.rounds)
    else:
        with make_executor(args.workers) as executor:
            chosen = choose(args.run, config, executor, args.rounds)
    for name, score in chosen.scores.items():
        print(f"{name}: {score:.1f}")
    if args.out is not None:
        args.out.mkdir(parents=True)
        for name in ("config.json", run_files.VAE):
            shutil.copy2(args.run / name, args.out / name)
        shutil.copytree(args.run / run_files.LATENTS, args.out / run_files.LATENTS)
        save_candidate(chosen.best, args.out)
    tracks = selection_tracks(config)
    results = {
        "run": str(args.run),
        "tracks": [tracks[0], tracks[-1]],
        "scores": chosen.scores,
        "best": chosen.best.name,
        "best_score": round(chosen.scores[chosen.best.name], 1),
        "last_score": round(chosen.scores[chosen.last.name], 1),
        "frames": chosen.frames,
    }
    name = f"worldmodel_pick_{args.run.name}"
    report(name, results, ["best", "best_score", "last_score", "frames"], " ".join(sys.argv))


if __name__ == "__main__":
    main()
