"""Stable-Baselines3 PPO / RecurrentPPO on our envs: env checks, training, save/load, logging."""

from __future__ import annotations

import json
import math
import shutil
import warnings
import zipfile

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import read_wandb_record
from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO
from stable_baselines3.common.env_checker import check_env

from rnnagents.cli import main
from rnnagents.common.checkpoint import save_checkpoint
from rnnagents.common.executor import SerialExecutor
from rnnagents.common.run_dir import start_run_dir
from rnnagents.common.run_logger import read_metrics
from rnnagents.common.stats import summarize
from rnnagents.common.video import count_frames
from rnnagents.envs.carracing import EVAL_TRACK_SEEDS_START, eval_track_seeds, make_carracing
from rnnagents.envs.carracing_sb3 import (
    FRAME_SKIP,
    TrainTrackSeeds,
    make_carracing_eval_env,
    make_carracing_sb3_env,
)
from rnnagents.envs.glimpse_sb3 import sb3_glimpse_env
from rnnagents.envs.registration import DREAM_ID, GLIMPSE_PRESETS
from rnnagents.train.ppo.config import PPORunConfig
from rnnagents.train.ppo.envs import glimpse_vec_env, make_train_env
from rnnagents.train.ppo.evaluate import (
    PPOFactory,
    evaluate_ppo_glimpse,
    evaluate_ppo_real,
)
from rnnagents.train.ppo.trainer import load_ppo, train_ppo
from rnnagents.train.ppo.watch import film as ppo_film
from rnnagents.train.ram.rollout import make_glimpse_vec_env
from rnnagents.train.real_game import score_real
from rnnagents.worldmodel import mdnrnn as memory
from rnnagents.worldmodel import run_files
from rnnagents.worldmodel import vae as vision
from rnnagents.worldmodel.config import PRESETS as WM_PRESETS
from rnnagents.worldmodel.mdnrnn import MDNRNN
from rnnagents.worldmodel.vae import ConvVAE, frames_to_tensor

MNIST28 = "rnnagents/MNIST28-v0"
TINY = dict(timesteps=256, n_envs=2, n_steps=64, batch_size=64, device="cpu")
SB3_KEYS = ("train/value_loss", "rollout/ep_rew_mean")


@pytest.mark.parametrize("env_id", sorted(GLIMPSE_PRESETS))
def test_every_glimpse_id_passes_sb3_check_env(env_id):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(sb3_glimpse_env(gym.make(env_id)))
    assert [str(w.message) for w in caught if "full MNIST" not in str(w.message)] == []
    check_env(sb3_glimpse_env(gym.make(env_id), flatten_observation=False), warn=False)


def test_glimpse_vec_env_plays_the_episodes_of_the_native_vector_env():
    """What lets evaluate_ppo_glimpse and evaluate_ram score the same test episodes."""
    n, seed = 3, 11
    native = make_glimpse_vec_env(MNIST28, n, "test")
    envs = glimpse_vec_env(PPORunConfig(MNIST28), "test", n, seed)
    envs.reset()
    for episode in range(2):
        native.reset(seed=[seed + i for i in range(n)] if episode == 0 else None)
        canvases = np.stack([env.unwrapped.task.canvases[0] for env in envs.envs])
        np.testing.assert_array_equal(canvases, native.unwrapped.task.canvases)
        for _ in range(native.unwrapped.config.n_glimpses):
            envs.step(np.zeros((n, 12), np.float32))


@pytest.fixture
def tiny_dream(monkeypatch):
    """A random-weight world model stands in for a run directory's V, M and start latents."""
    torch.manual_seed(0)
    parts = ConvVAE().eval(), MDNRNN().eval(), torch.randn(4, 2, 32)
    monkeypatch.setattr("rnnagents.worldmodel.run_files.load_dream_parts", lambda run_dir: parts)
    return parts


def test_dream_passes_sb3_check_env_and_ppo_trains_in_it(tiny_dream, tmp_path):
    vae, mdnrnn, starts = tiny_dream
    check_env(gym.make(DREAM_ID, vae=vae, mdnrnn=mdnrnn, start_latents=starts), warn=False)
    config = PPORunConfig("dream:some/run", **{**TINY, "timesteps": 64, "n_steps": 32})
    envs = make_train_env(config)
    obs = envs.reset()
    assert obs.shape == (2, 32 + 256)
    envs.close()
    train_ppo(config, tmp_path / "run", progress=False)  # actions are clipped into the bounds
    assert (tmp_path / "run" / "model.zip").exists()


def test_carracing_sb3_env_is_preprocessed_channels_first_and_steps():
    envs = make_carracing_sb3_env(n_envs=2, seed=0)
    assert envs.observation_space.shape == (2, 64, 64)
    obs = envs.reset()
    assert obs.shape == (2, 2, 64, 64) and obs.dtype == np.uint8
    for _ in range(3):
        obs, reward, done, _ = envs.step(np.array([[0.0, 1.0, 0.0]] * 2, np.float32))
    assert obs.shape == (2, 2, 64, 64) and reward.shape == (2,)
    envs.close()
    with pytest.raises(ValueError, match="training tracks"):
        make_carracing_sb3_env(n_envs=2, seed=EVAL_TRACK_SEEDS_START - 1)


@pytest.fixture(scope="module", params=[False, True], ids=["cnn", "cnn-lstm"])
def carracing_run(request, tmp_path_factory):
    """The run directory of a PPO trained for 32 steps on CarRacing frames."""
    config = PPORunConfig(
        "CarRacing-v3", recurrent=request.param, **{**TINY, "timesteps": 32, "n_steps": 16}
    )
    return train_ppo(config, tmp_path_factory.mktemp("carracing") / "run", progress=False)


def test_ppo_trains_on_carracing_frames(carracing_run):
    model, _ = load_ppo(carracing_run)
    assert type(model.policy).__name__.endswith("CnnPolicy")
    assert model.observation_space.shape == (2, 64, 64)


def test_carracing_eval_env_shows_what_training_showed_with_the_real_reward():
    train, env, raw = make_carracing_sb3_env(1, seed=0), make_carracing_eval_env(), make_carracing()
    np.testing.assert_array_equal(env.reset(seed=0)[0], train.reset()[0])
    raw.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(20):
        action = np.array([rng.uniform(-1, 1), 1.0, 0.0], np.float32)
        obs, reward, *_ = env.step(action)
        train_obs, train_reward, _, _ = train.step(action[None])
        np.testing.assert_array_equal(obs, train_obs[0])
        game_reward = sum(raw.step(action)[1] for _ in range(FRAME_SKIP))  # nothing clipped
        assert reward == pytest.approx(game_reward) == pytest.approx(train_reward[0])
    train.close()
    for track in eval_track_seeds(2):  # the tracks training refuses
        assert env.reset(seed=track)[0].shape == (2, 64, 64)


def test_carracing_run_is_scored_on_unseen_tracks_into_eval_json(carracing_run):
    report = evaluate_ppo_real(carracing_run, 2, SerialExecutor(), max_steps=5)
    assert report.items() >= {"env_id": "CarRacing-v3", "max_steps": 5}.items()
    assert report["tracks"] == [EVAL_TRACK_SEEDS_START, EVAL_TRACK_SEEDS_START + 1]
    assert set(report) >= set(summarize([0.0])) and report["episodes"] == 2
    assert all(math.isfinite(value) for value in report["returns"])
    assert json.loads((carracing_run / "eval.json").read_text()) == report
    frames, _ = ppo_film(str(carracing_run), 1, max_steps=3, device="cpu")
    assert len(frames) == 3 and frames[0].shape == (400, 600, 3)  # the full-colour game


def test_train_track_seeds_step_by_the_number_of_sub_envs_and_stay_in_range():
    env = TrainTrackSeeds(gym.make("CartPole-v1"), stride=3)
    env.reset(seed=5)
    second, _ = env.reset()
    np.testing.assert_array_equal(second, gym.make("CartPole-v1").reset(seed=8)[0])
    with pytest.raises(ValueError, match="outside the training range"):
        env.reset(seed=EVAL_TRACK_SEEDS_START)
    with pytest.raises(ValueError, match="needs a track seed"):
        TrainTrackSeeds(gym.make("CartPole-v1"), stride=1).reset()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(env_id="nope/Nothing-v0"), "unknown env"),
        (dict(env_id="dream:"), "unknown env"),
        (dict(env_id="CarRacing-v3", dict_obs=True), "glimpse envs only"),
        (dict(env_id="CarRacing-v3", seed=EVAL_TRACK_SEEDS_START - 4), "training tracks"),
        (dict(env_id=MNIST28, n_envs=0), "n_envs"),
        (dict(env_id=MNIST28, batch_size=1), "batch_size"),
        (dict(env_id=MNIST28, n_envs=1, n_steps=1), "n_steps"),
        (dict(env_id=MNIST28, device="tpu"), "unknown device"),
    ],
)
def test_bad_configs_are_refused_clearly(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PPORunConfig(**kwargs)


def test_load_ppo_refuses_another_agents_run(tmp_path):
    start_run_dir(tmp_path, {}, "ram")
    with pytest.raises(ValueError, match="not a 'ppo'"):
        load_ppo(tmp_path)


def test_eval_and_watch_refuse_a_ppo_run_without_its_model(tmp_path, capsys):
    start_run_dir(tmp_path, PPORunConfig("CarRacing-v3").as_dict(), "ppo")
    for command in (["eval", "ppo", str(tmp_path)], ["watch", str(tmp_path)]):
        with pytest.raises(SystemExit) as stopped:
            main(command)
        assert stopped.value.code == 1 and "model.zip is missing" in capsys.readouterr().err


@pytest.fixture(
    scope="module",
    params=[(False, False), (True, False), (True, True)],
    ids=["ppo-mlp", "recurrent-mlp", "recurrent-multiinput"],
)
def trained(request, tmp_path_factory):
    """(config, run dir, the model as it was saved) of a few hundred steps on MNIST28."""
    recurrent, dict_obs = request.param
    config = PPORunConfig(MNIST28, recurrent=recurrent, dict_obs=dict_obs, **TINY)
    cls = RecurrentPPO if recurrent else PPO
    saved, save = [], cls.save

    def spy(model, *args, **kwargs):
        saved.append(model)
        save(model, *args, **kwargs)

    run_dir = tmp_path_factory.mktemp("ppo") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cls, "save", spy)
        train_ppo(config, run_dir, progress=False)
    return config, run_dir, saved[0]


def test_save_load_round_trip_predicts_the_same(trained):
    config, run_dir, model = trained
    loaded, loaded_config = load_ppo(run_dir, device="cpu")
    assert loaded_config == config and type(loaded) is type(model)
    assert loaded.policy.__class__.__name__ == model.policy.__class__.__name__
    envs = glimpse_vec_env(config, "test", 4, seed=0)
    obs, states, start = envs.reset(), [None, None], np.ones(4, dtype=bool)
    for _ in range(3):  # recurrent models carry their LSTM state from step to step
        (a, states[0]), (b, states[1]) = (
            m.predict(obs, state=s, episode_start=start, deterministic=True)
            for m, s in zip((model, loaded), states, strict=True)
        )
        np.testing.assert_array_equal(a, b)
        obs, _, start, _ = envs.step(a)


def test_metrics_jsonl_holds_sb3_scalars(trained):
    _, run_dir, model = trained
    records = read_metrics(run_dir)
    assert {key for record in records for key in record} >= set(SB3_KEYS)
    assert records[-1]["step"] == model.num_timesteps


def test_evaluate_ppo_glimpse_reports_like_evaluate_ram(trained):
    config, _, model = trained
    rng_state = torch.get_rng_state()
    report = evaluate_ppo_glimpse(model, config, split="test", episodes=50, batch_size=20)
    assert set(report) == {"split", "episodes", "error", "error_ci95"}
    assert report["split"] == "test" and report["episodes"] == 50
    low, high = report["error_ci95"]
    assert 0 <= low <= report["error"] <= high <= 1 and report["error"] > 0.5  # barely trained
    assert evaluate_ppo_glimpse(model, config, episodes=50, batch_size=20) == report
    assert torch.equal(torch.get_rng_state(), rng_state)


def test_watch_films_a_glimpse_run_one_frame_per_glimpse(trained, tmp_path, monkeypatch):
    config, run_dir, _ = trained
    monkeypatch.delenv("DISPLAY", raising=False)  # no playback window
    main(["watch", str(run_dir), "--episodes", "2", "--out", str(tmp_path / "w.mp4")])
    n_glimpses = gym.make(config.env_id).unwrapped.config.n_glimpses
    assert count_frames(tmp_path / "w.mp4") == 2 * n_glimpses


@pytest.fixture(params=[False, True], ids=["ppo", "recurrent"])
def dream_run(request, tiny_dream, tmp_path):
    """A PPO run trained a few steps in the tiny dream of a world-model run directory that
    holds what scoring reads (its config, V's and M's checkpoints, of the tiny dream's own
    weights). The dream never ends, so episodes last as long as they are allowed to."""
    torch.nn.init.constant_(tiny_dream[1].done_head.bias, -10.0)
    world_model = tmp_path / "worldmodel"
    wm_config = WM_PRESETS["smoke"].as_dict()
    start_run_dir(world_model, wm_config, "worldmodel")
    for name, kind, model in [
        (run_files.VAE, vision.KIND, tiny_dream[0]),
        (run_files.MDNRNN, memory.KIND, tiny_dream[1]),
    ]:
        save_checkpoint(
            world_model / name, {"kind": kind, "config": wm_config, "model": model.state_dict()}
        )
    config = PPORunConfig(
        f"dream:{world_model}", recurrent=request.param, **{**TINY, "timesteps": 64, "n_steps": 32}
    )
    return train_ppo(config, tmp_path / "ppo", progress=False)


def test_dream_run_acts_in_the_real_game_on_z_and_h_as_in_the_dream(dream_run, tiny_dream):
    vae, mdnrnn, _ = tiny_dream
    model, _ = load_ppo(dream_run, device="cpu")
    frame, _ = make_carracing().reset(seed=EVAL_TRACK_SEEDS_START)
    with torch.no_grad():
        z = vae.encode(frames_to_tensor(frame[None]))[0][0]
    seen = torch.cat([z, mdnrnn.initial_state(1)[0][0]]).numpy()  # h starts at zero
    expected, _ = model.predict(seen, episode_start=np.ones(1, bool), deterministic=True)
    factory = PPOFactory.of_run(dream_run)
    np.testing.assert_allclose(factory()(frame), expected, atol=1e-6)
    for run in (dream_run, dream_run.parent / "worldmodel"):  # a worker needs no run files
        shutil.rmtree(run)
    first, again = (
        score_real(SerialExecutor(), factory, [EVAL_TRACK_SEEDS_START], 10) for _ in range(2)
    )
    assert first == again and math.isfinite(first[0])


def test_cli_scores_and_films_a_dream_run(dream_run, tmp_path, capsys, monkeypatch):
    main(["eval", "ppo", str(dream_run), "--episodes", "1"])
    out = capsys.readouterr()
    assert "(1 episodes on unseen tracks)" in out.out and "ppo: 100%" in out.err
    report = json.loads((dream_run / "eval.json").read_text())
    assert report["max_steps"] == WM_PRESETS["smoke"].collect_max_steps  # as its controller
    monkeypatch.delenv("DISPLAY", raising=False)
    video = tmp_path / "dream.mp4"
    main(["watch", str(dream_run), "--episodes", "2", "--max-steps", "4", "--out", str(video)])
    assert count_frames(video) == 2 * 4
    with pytest.raises(SystemExit):
        main(["eval", "ppo", str(dream_run), "--split", "test"])
    assert "--split applies to glimpse runs" in capsys.readouterr().err


@pytest.mark.usefixtures("offline_wandb")
def test_sb3_scalars_reach_the_offline_wandb_run(tmp_path):
    run_dir = train_ppo(PPORunConfig(MNIST28, **TINY), tmp_path / "run", wandb=True, progress=False)
    run_id = (run_dir / "wandb_id.txt").read_text().strip()
    [records] = (run_dir / "wandb").glob(f"offline-run-*-{run_id}/run-{run_id}.wandb")
    names = [name.encode() for name in (*SB3_KEYS, "ppo-model")]
    data = read_wandb_record(records, names)
    assert [name for name in names if name not in data] == []


@pytest.mark.slow
def test_cli_train_and_eval_ppo(tmp_path, run_cli):
    run_dir = tmp_path / "run"
    flags = ["--timesteps", "128", "--n-envs", "2", "--n-steps", "64", "--batch-size", "64"]
    train = run_cli("train", "ppo", "--env", MNIST28, *flags, "--run-dir", run_dir, "--no-progress")
    assert "test error" in train.stdout and (run_dir / "model.zip").exists()
    ev = run_cli("eval", "ppo", run_dir, "--episodes", "100")
    assert "test error" in ev.stdout and "100 episodes" in ev.stdout
    bad = run_cli("train", "ppo", "--env", "rnnagents/Nope-v0", check=False)
    assert bad.returncode == 2 and "Nope" in bad.stderr


def _rewrite_model_data(run_dir, change) -> None:
    """Apply ``change`` to the ``data`` JSON of a run's model.zip, keeping its other members."""
    path = run_dir / "model.zip"
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    data = json.loads(members["data"])
    change(data)
    members["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)


class _RunsCode:
    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def _payload(marker) -> dict:
    """An SB3 ':serialized:' entry whose unpickling runs ``touch marker``."""
    import base64

    import cloudpickle

    return {":serialized:": base64.b64encode(cloudpickle.dumps(_RunsCode(marker))).decode()}


def test_loading_a_run_never_unpickles_what_its_model_file_holds(trained, tmp_path):
    config, run_dir, model = trained
    crafted = tmp_path / "run"
    shutil.copytree(run_dir, crafted)
    marker = tmp_path / "ran"
    _rewrite_model_data(crafted, lambda data: data.update(policy_class=_payload(marker)))
    loaded, _ = load_ppo(crafted, device="cpu")  # spaces and policy rebuilt from the config
    assert not marker.exists()
    assert loaded.observation_space == model.observation_space
    assert type(loaded.policy) is type(model.policy)
    _rewrite_model_data(crafted, lambda data: data.update(evil=_payload(marker)))
    with pytest.raises(ValueError, match=r"pickled Python objects \['evil'\].*refusing"):
        load_ppo(crafted, device="cpu")
    assert not marker.exists()
