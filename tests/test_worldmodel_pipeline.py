"""The World Models pipeline end to end on a tiny config, and its resume after a cut."""

import dataclasses
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnagents.common.run_logger import RunLogger, read_metrics
from rnnagents.common.video import count_frames
from rnnagents.envs.carracing import train_track_seeds
from rnnagents.train.worldmodel.extend import add_rounds, archive_dir
from rnnagents.train.worldmodel.pipeline import DREAM_VS_REAL_STEPS, open_pipeline, pipeline_stages
from rnnagents.train.worldmodel.select import (
    Candidate,
    Selection,
    noise_tracks,
    round_candidates,
    save_candidate,
    score_noises,
    selection_tracks,
    shortlist,
)
from rnnagents.worldmodel import run_files
from rnnagents.worldmodel.config import PRESETS
from rnnagents.worldmodel.run_files import load_controller_noise, load_controller_params
from rnnagents.worldmodel.shards import ShardError, list_shards, read_shard

TINY = dataclasses.replace(
    PRESETS["smoke"],
    collect_episodes=3,
    collect_max_steps=60,
    workers=1,
    dream_max_steps=40,
    eval_episodes=1,
    device="cpu",
    iterations=1,
    iteration_episodes=2,
)
STAGES = pipeline_stages(TINY)


def run_pipeline(run_dir, new):
    pipeline, executor, logger = open_pipeline(TINY, run_dir, new=new, progress=False)
    with executor, logger:
        pipeline.run_all()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("wm") / "run"
    run_pipeline(run_dir, new=True)
    return run_dir


def test_pipeline_runs_every_stage(finished_run):
    for stage in STAGES:
        assert run_files.stage_done(finished_run, stage), stage
    report = json.loads((finished_run / "eval.json").read_text())
    assert report["agent"] == "controller" and report["episodes"] == 1
    for name in ("controller_random_weights", "random", "exploration"):
        assert report["baselines"][name]["episodes"] == 1
    assert report["dream"]["episodes"] == 1
    assert report["tracks"][0] >= 1_000_000  # evaluation tracks are never training tracks
    summary = json.loads((finished_run / run_files.STAGES / "collect.json").read_text())
    assert len(summary["episodes"]) == 3
    keys = set().union(*(m.keys() for m in read_metrics(finished_run)))
    assert {"vae/loss", "mdnrnn/loss", "dream/mean", "real/mean", "dream/checked_mean"} <= keys
    assert {"mdnrnn/heldout/reward_mse", "mdnrnn/heldout/end_p_off"} <= keys
    steps = [m["step"] for m in read_metrics(finished_run)]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)  # one axis for W&B


def test_an_iteration_collects_with_the_controller_and_promotes_new_m_and_c(finished_run):
    assert STAGES[-5:] == ["collect-1", "encode-1", "mdnrnn-1", "controller-1", "evaluate"]
    summary = json.loads((finished_run / run_files.ROLLOUTS / "collect_summary-1.json").read_text())
    assert summary["track_seeds"] == [3, 4]  # new training tracks after the first 3
    assert len(list_shards(finished_run / run_files.LATENTS)) == 5  # every episode encoded
    for name in (run_files.MDNRNN, run_files.CONTROLLER):
        current = (finished_run / name).read_bytes()
        assert current == (finished_run / "iteration-1" / name).read_bytes()  # promoted
        assert current != (finished_run / "iteration-0" / name).read_bytes()  # archived


def _tensors(tree, prefix=""):
    """Every tensor of a loaded checkpoint, by its path in the nested dicts and lists."""
    if isinstance(tree, torch.Tensor):
        yield prefix, tree
    elif isinstance(tree, dict):
        for key, value in tree.items():
            yield from _tensors(value, f"{prefix}/{key}")
    elif isinstance(tree, list | tuple):
        for i, value in enumerate(tree):
            yield from _tensors(value, f"{prefix}[{i}]")


def test_a_second_run_with_the_same_seed_ends_with_the_same_weights_and_scores(
    finished_run, tmp_path
):
    """Seeded end to end on one machine: every stage's weights and every score again, bit for
    bit. (Before the resume test below, which retrains part of ``finished_run``.)"""
    again = tmp_path / "run"
    run_pipeline(again, new=True)
    assert len(_assert_same_checkpoints(finished_run, again)) >= 5  # V, M, C, rounds' M and C
    first, second = (json.loads((run / "eval.json").read_text()) for run in (finished_run, again))
    assert first["returns"] == second["returns"] and first["dream"] == second["dream"]


def _benchmark(name: str):
    """A script of ``benchmarks/`` as a module (it is not part of the package)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_fork_at_a_round_repeats_its_source_and_an_override_changes_only_later_rounds(
    finished_run, tmp_path
):
    """``benchmarks/worldmodel_fork.py``: a fork without overrides, resumed, ends bit for bit as
    its source; with one, the rounds before the fork are still the source's."""
    fork = _benchmark("worldmodel_fork")
    same, changed = tmp_path / "same", tmp_path / "changed"
    fork.fork(finished_run, same, 1, {})
    fork.fork(finished_run, changed, 1, fork.overrides(["mdn_recurrent_dropout=0.2"]))
    assert not run_files.stage_done(same, "mdnrnn-1") and run_files.stage_done(same, "encode-1")
    assert run_files.run_config(changed).mdn_recurrent_dropout == 0.2
    for run in (same, changed):  # what `train worldmodel --resume RUN` does: the run's config
        pipeline, executor, logger = open_pipeline(
            run_files.run_config(run), run, new=False, progress=False
        )
        with executor, logger:
            pipeline.run_all()
    _assert_same_checkpoints(finished_run, same)
    assert _json(same / "eval.json")["returns"] == _json(finished_run / "eval.json")["returns"]
    assert _measured(same) == _measured(finished_run)  # the same metrics at the same steps
    source_m, changed_m = (
        torch.load(run / "iteration-1" / run_files.MDNRNN, weights_only=True)["model"]
        for run in (finished_run, changed)
    )
    assert not torch.equal(source_m["lstm.weight_hh_l0"], changed_m["lstm.weight_hh_l0"])
    for name in (run_files.VAE, f"iteration-0/{run_files.MDNRNN}"):
        assert (changed / name).read_bytes() == (finished_run / name).read_bytes()
    with pytest.raises(ValueError, match="not config fields: nosuch"):
        fork.fork(finished_run, tmp_path / "bad", 1, {"nosuch": 1})
    with pytest.raises(FileExistsError):
        fork.fork(finished_run, same, 1, {})


def _measured(run: Path) -> list[dict]:
    """A run's metrics without the clock (times and speeds differ from run to run)."""
    return [
        {k: v for k, v in row.items() if k != "time" and not k.endswith("_per_s")}
        for row in read_metrics(run)
    ]


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def _assert_same_checkpoints(run: Path, other: Path) -> list[Path]:
    """Every checkpoint of ``run`` holds the same tensors in ``other``; returns them."""
    checkpoints = sorted(run.rglob("*.pt"))
    for path in checkpoints:
        first = dict(_tensors(torch.load(path, weights_only=True)))
        second = dict(_tensors(torch.load(other / path.relative_to(run), weights_only=True)))
        assert first.keys() == second.keys() and first, path
        assert all(torch.equal(first[k], second[k]) for k in first), path
    return checkpoints


def test_more_rounds_for_a_finished_run_end_bit_for_bit_as_a_fresh_run_with_that_many(tmp_path):
    """``--resume RUN --iterations N``: a 1-round run given a second round ends as a fresh
    2-round run (select and evaluate redone), and keeps its first results in an archive."""
    one, two = (dataclasses.replace(TINY, select_tracks=1, iterations=k) for k in (1, 2))
    runs = extended, fresh = tmp_path / "extended", tmp_path / "fresh"
    for config, run in zip((one, two), runs, strict=True):
        pipeline, executor, logger = open_pipeline(config, run, new=True, progress=False)
        with executor, logger:
            pipeline.run_all()
    first_eval = (extended / "eval.json").read_text()
    first_select = _json(extended / run_files.STAGES / "select.json")
    # select promoted an earlier candidate, so the next round must start from the last one
    assert first_select["chosen"] != "iteration-1/gen-2"
    with pytest.raises(ValueError, match="never fewer"):
        add_rounds(extended, one, 0)
    assert add_rounds(extended, one, 1) == one
    config = add_rounds(extended, one, 2)
    assert config == two == run_files.run_config(extended)
    assert not run_files.stage_done(extended, "select")
    pipeline, executor, logger = open_pipeline(config, extended, new=False, progress=False)
    with executor, logger:
        pipeline.run_all()
    archive = extended / archive_dir(1)
    checkpoints = [p.relative_to(fresh) for p in _assert_same_checkpoints(fresh, extended)]
    archived = [p.relative_to(extended) for p in (archive / "select").glob("*.pt")]
    assert sorted(p.relative_to(extended) for p in extended.rglob("*.pt")) == sorted(
        [*checkpoints, *archived]
    )
    for name in ("eval.json", f"{run_files.STAGES}/select.json"):
        same = [{k: v for k, v in _json(run / name).items() if k != "seconds"} for run in runs]
        assert same[0] == same[1], name
    assert (archive / "eval.json").read_text() == first_eval
    assert _json(archive / "stage-select.json") == first_select


def test_select_promotes_the_round_candidate_that_scores_best_on_new_training_tracks(
    finished_run, tmp_path
):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    last_round = (run / "iteration-1" / run_files.CONTROLLER).read_bytes()
    config = dataclasses.replace(TINY, select_tracks=1)
    assert "select" not in STAGES and pipeline_stages(config)[-2:] == ["select", "evaluate"]
    assert selection_tracks(config) == train_track_seeds(1, start=5)  # past the 3 + 2 collected
    pipeline, executor, logger = open_pipeline(config, run, new=False, progress=False)
    with executor, logger:
        pipeline.run_stage("select")
        summary = json.loads((run / run_files.STAGES / "select.json").read_text())
        candidates = {candidate.name: candidate for candidate in round_candidates(run)}
        # every check of both rounds (smoke: generations 1 and 2, each checked)
        names = [f"iteration-{k}/gen-{g}" for k in (0, 1) for g in (1, 2)]
        assert list(candidates) == names and set(summary["scores"]) == set(names)
        assert [c.name for c in round_candidates(run, rounds=1)] == names[:2]  # round 0 only
        assert summary["chosen"] == max(summary["scores"], key=summary["scores"].get)
        chosen = candidates[summary["chosen"]]
        assert np.array_equal(load_controller_params(run), chosen.params.astype(np.float32))
        assert (run / run_files.MDNRNN).read_bytes() == (
            chosen.folder / run_files.MDNRNN
        ).read_bytes()
        assert summary["frames"] == len(candidates) * TINY.collect_max_steps
        assert (run / "iteration-1" / run_files.CONTROLLER).read_bytes() == last_round  # kept
        pipeline.run_stage("select", force=True)  # again: the same candidates, the same choice
        again = json.loads((run / run_files.STAGES / "select.json").read_text())
    assert again["scores"] == summary["scores"] and again["chosen"] == summary["chosen"]
    assert any("select/best" in line for line in read_metrics(run))
    assert "action_noise" not in again and load_controller_noise(run) is None  # none asked for


def test_select_chooses_the_noise_with_the_controller_on_fresh_tracks_and_eval_uses_it(
    finished_run, tmp_path
):
    from rnnagents.common.executor import SerialExecutor
    from rnnagents.train.worldmodel.evaluate import evaluate_worldmodel

    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    config = dataclasses.replace(TINY, select_tracks=1, select_noises="0.5, 0.0, 1.0")
    assert config.select_noise_stds() == (0.0, 0.5, 1.0)  # action_noise (0) first, once
    assert noise_tracks(config) == train_track_seeds(1, start=6)  # after selection track 5
    pipeline, executor, logger = open_pipeline(config, run, new=False, progress=False)
    with executor, logger:
        pipeline.run_stage("select")
    summary = json.loads((run / run_files.STAGES / "select.json").read_text())
    chosen = next(c for c in round_candidates(run) if c.name == summary["chosen"])
    with SerialExecutor() as serial:
        again = score_noises(run, config, chosen, serial)  # the stage's scores, recomputed
    assert summary["noise_scores"] == {str(std): score for std, score in again.items()}
    assert summary["action_noise"] == max(again, key=again.get) == load_controller_noise(run)
    scored = len(summary["scores"]) + len(again)
    assert summary["frames"] == scored * config.select_tracks * TINY.collect_max_steps
    assert any("select/action_noise" in line for line in read_metrics(run))
    report = evaluate_worldmodel(run, 1, SerialExecutor(), baselines=False)
    assert report["action_noise"] == summary["action_noise"]  # what select chose, by default
    save_candidate(chosen, run, action_noise=0.7)  # a choice the run's config cannot give
    assert evaluate_worldmodel(run, 1, SerialExecutor(), baselines=False)["action_noise"] == 0.7
    told = evaluate_worldmodel(run, 1, SerialExecutor(), baselines=False, action_noise=0.3)
    assert told["action_noise"] == 0.3  # an explicit noise still wins


def test_watch_films_the_episode_eval_scores_with_the_noise_select_chose(finished_run, tmp_path):
    from rnnagents.envs.carracing import eval_track_seeds, make_carracing
    from rnnagents.train.real_game import RealGame
    from rnnagents.train.worldmodel.watch import UPSCALE, film
    from rnnagents.worldmodel.policy import ControllerFactory, WorldModelWeights

    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    save_candidate(round_candidates(run)[-1], run, action_noise=0.7)  # as if select chose 0.7
    steps = 30
    frames, _ = film(run, 1, max_steps=steps)
    weights, params = WorldModelWeights.of_run(run), load_controller_params(run)
    track = eval_track_seeds(1)[0]

    def real_frames(noise):  # the episode scoring plays, C with this noise
        game = RealGame(ControllerFactory.of(weights, params, noise), make_carracing, steps)
        env = make_carracing()
        played = [
            np.kron(s.frame, np.ones((UPSCALE, UPSCALE, 1), np.uint8))
            for s in game.episode(env, track)
        ]
        env.close()
        return played

    side = 64 * UPSCALE  # the real panel: the 64x64 observation, upscaled
    below_caption = [frame[40:side, :side] for frame in frames]
    scored, alone = real_frames(0.7), real_frames(0.0)
    assert len(frames) == len(scored) == steps
    assert all(np.array_equal(f, s[40:]) for f, s in zip(below_caption, scored, strict=True))
    assert not all(np.array_equal(f, a[40:]) for f, a in zip(below_caption, alone, strict=True))


def test_shortlist_keeps_the_best_checks_the_unchecked_and_the_last_in_run_order():
    checks = [5.0, 9.0, None, 1.0, 7.0, 0.0]
    candidates = [Candidate(f"c{i}", Path(), np.zeros(1), c) for i, c in enumerate(checks)]
    assert [c.name for c in shortlist(candidates, 2)] == ["c1", "c2", "c4", "c5"]
    assert shortlist(candidates, 0) == candidates == shortlist(candidates, 99)


def test_a_selection_of_some_candidates_keeps_their_scores_only_and_names_the_best():
    candidates = [Candidate(f"c{i}", Path(), np.zeros(1), None) for i in range(3)]
    scores = {"c0": 2.0, "c1": 5.0, "c2": -1.0, "c9": 99.0}  # c9: a candidate not offered
    chosen = Selection.of(candidates, scores, frames=7)
    assert chosen.best.name == "c1" and chosen.last.name == "c2" and chosen.frames == 7
    assert list(chosen.scores) == ["c0", "c1", "c2"]


def test_select_scores_again_only_the_shortlist(finished_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    candidates = round_candidates(run)
    assert all(c.check is not None for c in candidates)  # every round checked (smoke)
    config = dataclasses.replace(TINY, select_tracks=1, select_candidates=1)
    pipeline, executor, logger = open_pipeline(config, run, new=False, progress=False)
    with executor, logger:
        pipeline.run_stage("select")
    summary = json.loads((run / run_files.STAGES / "select.json").read_text())
    assert list(summary["scores"]) == [c.name for c in shortlist(candidates, 1)]
    assert len(summary["scores"]) < len(candidates)
    assert summary["frames"] == len(summary["scores"]) * TINY.collect_max_steps


def test_a_run_without_rounds_offers_its_one_controller_under_the_name_it_is_archived_as(
    finished_run, tmp_path
):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run, ignore=shutil.ignore_patterns("iteration-*"))
    candidates = round_candidates(run)
    assert [c.folder for c in candidates] == [run] * len(candidates)
    assert candidates[0].name == "iteration-0/gen-1"  # as after select archives it there


def test_resume_after_a_cut_redoes_only_what_is_missing(finished_run):
    shards = list_shards(finished_run / run_files.ROLLOUTS)
    kept, cut = shards[0], shards[1]
    kept_mtime = kept.stat().st_mtime_ns
    vae_mtime = (finished_run / run_files.VAE).stat().st_mtime_ns
    # As if collection had died mid-write of one shard, everything after it never ran.
    cut.write_bytes(cut.read_bytes()[:100])
    for stage in STAGES:
        (finished_run / run_files.STAGES / f"{stage}.json").unlink()
    (finished_run / run_files.MDNRNN).unlink()
    run_pipeline(finished_run, new=False)
    assert all(run_files.stage_done(finished_run, stage) for stage in STAGES)
    assert kept.stat().st_mtime_ns == kept_mtime  # complete shards are kept
    assert len(read_shard(cut)["actions"]) > 0  # the half-written one was collected again
    assert (finished_run / run_files.VAE).stat().st_mtime_ns == vae_mtime  # complete: kept
    assert (finished_run / run_files.MDNRNN).exists()


@pytest.mark.slow
def test_watch_and_eval_commands_on_a_world_model_run(finished_run, tmp_path, run_cli):
    video = tmp_path / "wm.mp4"
    out = run_cli("watch", finished_run, "--episodes", "1", "--out", video)
    assert count_frames(video) == int(out.stdout.split("(")[1].split()[0]) > 0
    ev = run_cli("eval", "worldmodel", finished_run, "--episodes", "2", "--no-baselines")
    assert "controller" in ev.stdout and "dream" in ev.stdout
    assert "controller: 100%" in ev.stderr and "2/2" in ev.stderr  # the bar over episodes
    quiet = run_cli(
        "eval", "worldmodel", finished_run, "--episodes", "1", "--no-baselines", "--no-progress"
    )
    assert "controller" in quiet.stdout and "episode/s" not in quiet.stderr
    run_cli("eval", "worldmodel", finished_run, "--episodes", "1", "--no-baselines",
            "--action-noise", "0.2", "--no-progress")  # fmt: skip
    assert json.loads((finished_run / "eval.json").read_text())["action_noise"] == 0.2


@pytest.mark.slow
def test_stage_commands_refuse_other_runs(tmp_path, run_cli):
    ram_like = tmp_path / "ram"
    ram_like.mkdir()
    (ram_like / "config.json").write_text(json.dumps({"agent": "ram", "config": {}}))
    out = run_cli("train", "mdnrnn", ram_like, check=False)
    assert out.returncode == 2 and "not a 'worldmodel' run" in out.stderr


def test_logger_steps_continue_across_stage_loggers(tmp_path):
    from rnnagents.common.run_logger import StageLogger

    with RunLogger(tmp_path, {}) as logger:
        StageLogger(logger).log({"a": 1.0}, step=5)
        StageLogger(logger).log({"b": 2.0}, step=1)
    assert [m["step"] for m in read_metrics(tmp_path)] == [5, 7]


def test_a_stage_stopped_by_ctrl_c_is_not_marked_complete(tmp_path, monkeypatch):
    import rnnagents.train.worldmodel.pipeline as pipeline_module

    monkeypatch.setattr(pipeline_module, "train_vae", lambda *args, **kwargs: False)
    pipeline, executor, logger = open_pipeline(TINY, tmp_path / "run", new=True, progress=False)
    with executor, logger, pytest.raises(pipeline_module.PipelineStopped):
        pipeline.run_stage("vae")
    assert not run_files.stage_done(tmp_path / "run", "vae")


def test_dream_vs_real_video_reaches_the_offline_wandb_run(finished_run, offline_wandb):
    pipeline, executor, logger = open_pipeline(
        TINY, finished_run, new=False, wandb=True, progress=False
    )
    with executor, logger:
        video = pipeline.log_dream_vs_real("controller")
        run_id = logger.wandb_id
    assert count_frames(video) == DREAM_VS_REAL_STEPS
    [offline_dir] = (finished_run / "wandb").glob(f"offline-run-*-{run_id}")
    assert list((offline_dir / "files" / "media" / "videos").glob("media/dream_vs_real_*.mp4"))


def test_a_shard_damaged_after_collection_names_the_command_that_recollects_it(
    finished_run, tmp_path
):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    damaged = list_shards(run_dir / run_files.ROLLOUTS)[0]
    damaged.write_bytes(damaged.read_bytes()[:100])  # collect is marked done; V must read it
    (run_dir / run_files.VAE).unlink()
    pipeline, executor, logger = open_pipeline(TINY, run_dir, new=False, progress=False)
    with executor, logger:
        with pytest.raises(ShardError, match=f"rnnagents collect --run-dir {run_dir}"):
            pipeline.run_stage("vae", force=True)
        pipeline.run_stage("collect", force=True)  # what `rnnagents collect` runs
        assert len(read_shard(damaged)["actions"]) > 0
        pipeline.run_stage("vae", force=True)
    assert (run_dir / run_files.VAE).exists()


class _StopAfter:
    """A serial executor that dies (Ctrl-C) after ``episodes`` episodes, like a cut-short eval."""

    def __init__(self, episodes: int) -> None:
        self.left, self.played = episodes, []

    def completed(self, fn, items):
        for index, item in enumerate(items):
            if self.left == 0:
                raise KeyboardInterrupt
            self.left -= 1
            self.played.append(item)  # a track seed
            yield index, fn(item)


def test_a_cut_short_evaluation_continues_where_it_stopped(finished_run, tmp_path):
    from rnnagents.common.executor import SerialExecutor
    from rnnagents.train.real_game import PROGRESS_FILE
    from rnnagents.train.worldmodel.evaluate import evaluate_worldmodel

    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    straight = evaluate_worldmodel(run_dir, 3, SerialExecutor(), baselines=False)
    cut = _StopAfter(2)
    with pytest.raises(KeyboardInterrupt):
        evaluate_worldmodel(run_dir, 3, cut, baselines=False)
    assert (run_dir / PROGRESS_FILE).exists()
    rest = _StopAfter(10)
    resumed = evaluate_worldmodel(run_dir, 3, rest, baselines=False)
    assert rest.played == [cut.played[-1] + 1]  # only the episode the cut left unplayed
    assert resumed["returns"] == straight["returns"]
    assert not (run_dir / PROGRESS_FILE).exists()  # the report holds it all


def test_an_evaluation_missing_the_dream_s_start_latents_fails_before_any_real_episode(
    finished_run, tmp_path
):
    from rnnagents.train.real_game import PROGRESS_FILE
    from rnnagents.train.worldmodel.evaluate import evaluate_worldmodel

    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir, ignore=shutil.ignore_patterns(run_files.LATENTS))
    executor = _StopAfter(10)
    with pytest.raises(FileNotFoundError, match="latent shards"):
        evaluate_worldmodel(run_dir, 3, executor, baselines=False)
    assert executor.played == [] and not (run_dir / PROGRESS_FILE).exists()


def test_action_noise_is_reported_and_never_resumes_a_noise_free_evaluation(finished_run, tmp_path):
    """C plus noise is another policy: its evaluation replays nothing journalled without it."""
    from rnnagents.common.executor import SerialExecutor
    from rnnagents.train.worldmodel.evaluate import evaluate_worldmodel

    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    with pytest.raises(KeyboardInterrupt):
        evaluate_worldmodel(run_dir, 3, _StopAfter(2), baselines=False)
    noisy = _StopAfter(10)
    report = evaluate_worldmodel(run_dir, 3, noisy, baselines=False, action_noise=0.3)
    assert len(noisy.played) == 3 and report["action_noise"] == 0.3
    plain = evaluate_worldmodel(run_dir, 3, SerialExecutor(), baselines=False)
    assert plain["action_noise"] == TINY.action_noise == 0.0
    with pytest.raises(ValueError, match="action_noise"):
        evaluate_worldmodel(run_dir, 1, SerialExecutor(), baselines=False, action_noise=-1.0)
