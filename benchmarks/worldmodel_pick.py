"""Issue 13's lever 4 measured after the fact: choose a finished World Models run's final C
among its rounds by real scores on training tracks, as the ``select`` stage
(``--select-tracks``) does inside a run made with it.

``--out DIR`` writes a copy of the run whose current M and C are the winner's, so that
``rnnagents eval worldmodel DIR`` scores it on the unseen tracks. Last line:
``RESULT best=ROUND/gen-G best_score=... last_score=... frames=...`` (frames: an upper bound
on the real frames the scoring used, which count in the run's budget).

    python benchmarks/worldmodel_pick.py RUN [--tracks 8] [--workers 2] [--out DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
from pathlib import Path

from common import report

from rnnagents.common.executor import make_executor
from rnnagents.train.worldmodel.select import choose, save_candidate, selection_tracks
from rnnagents.worldmodel import run_files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run", type=Path, help="a finished World Models run directory")
    parser.add_argument("--tracks", type=int, default=8, help="training tracks per candidate")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, help="write the winner as a run directory here")
    args = parser.parse_args()
    config = dataclasses.replace(run_files.run_config(args.run), select_tracks=args.tracks)
    with make_executor(args.workers) as executor:
        chosen = choose(args.run, config, executor)
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
