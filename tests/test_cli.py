"""The command line: flags generated from the run configs, resume refusals, env show, no torch
for --help."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import cv2
import pytest

from rnnagents.cli import build_parser, main, new_config
from rnnagents.common.configs import with_overrides
from rnnagents.common.run_dir import start_run_dir
from rnnagents.train.ppo.config import PPORunConfig
from rnnagents.train.ram.config import PRESETS as RAM_PRESETS
from rnnagents.train.ram.config import RAMRunConfig
from rnnagents.worldmodel.config import PRESETS as WM_PRESETS
from rnnagents.worldmodel.config import WorldModelConfig
from rnnagents.worldmodel.run_files import run_config


def flags_of(*command: str) -> dict[str, str]:
    """dest -> help of every flag of a subcommand."""
    parser = build_parser()
    for name in command:
        parser = next(a for a in parser._actions if a.dest in ("command", "agent")).choices[name]
    return {action.dest: action.help for action in parser._actions}


@pytest.mark.parametrize(
    "command, config_class",
    [(("train", "ram"), RAMRunConfig), (("train", "ppo"), PPORunConfig),
     (("train", "worldmodel"), WorldModelConfig), (("collect",), WorldModelConfig)],
)  # fmt: skip
def test_every_config_field_is_a_flag_with_its_own_help(command, config_class):
    flags = flags_of(*command)
    for field in dataclasses.fields(config_class):
        assert field.name in flags, field.name
        assert flags[field.name].startswith(field.metadata["help"].replace("%", "%%"))


def test_help_shows_the_default_presets_value_not_a_copy():
    flags = flags_of("train", "worldmodel")
    assert f"(default: {WM_PRESETS['default'].cmaes_generations})" in flags["cmaes_generations"]
    assert WM_PRESETS["default"].cmaes_generations != WorldModelConfig().cmaes_generations


def test_given_flags_override_the_preset_and_others_keep_it():
    args = build_parser().parse_args(
        ["train", "ram", "--preset", "smoke", "--lr", "0.01", "--core", "gru", "--glimpses", "3"]
    )
    expected = with_overrides(RAM_PRESETS["smoke"], lr=0.01, core="gru", n_glimpses=3)
    assert new_config(args, "ram") == expected
    args = build_parser().parse_args(["train", "ram", "--no-reinforce-trains-core"])
    assert new_config(args, "ram") == with_overrides(RAM_PRESETS["default"])


def test_bad_values_are_usage_errors(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "ram", "--core", "transformer"])
    assert exit_info.value.code == 2 and "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "ppo"])  # --env is required: the config field has no default
    assert "--env" in capsys.readouterr().err


@pytest.mark.parametrize(
    "kind, flags, named",
    [("ram", ["--lr", "0.5"], "--lr"), ("worldmodel", ["--vae-lr", "0.5"], "--vae-lr"),
     ("ram", ["--preset", "smoke"], "--preset"), ("worldmodel", ["--run-dir", "x"], "--run-dir")],
)  # fmt: skip
def test_resume_refuses_flags_that_would_change_the_run(tmp_path, capsys, kind, flags, named):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", kind, "--resume", str(tmp_path), *flags])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and f"{named} cannot change an existing run" in err


def test_resume_may_give_a_world_model_run_more_rounds_never_fewer(tmp_path, capsys):
    config = dataclasses.replace(WM_PRESETS["smoke"], iterations=1)
    start_run_dir(tmp_path, config.as_dict(), "worldmodel")
    fewer, more_and_another = ["--iterations", "0"], ["--iterations", "3", "--vae-lr", "0.5"]
    for flags, named in ((fewer, "never fewer"), (more_and_another, "--vae-lr cannot change")):
        with pytest.raises(SystemExit) as exit_info:
            main(["train", "worldmodel", "--resume", str(tmp_path), *flags])
        assert exit_info.value.code == 2 and named in capsys.readouterr().err
    assert run_config(tmp_path) == config  # refused: the run is as it was


def test_env_show_writes_an_image_and_names_a_bad_extension(tmp_path, capsys):
    out = tmp_path / "sheet.png"
    main(["env", "show", "rnnagents/MNIST28-v0", "--out", str(out), "--episodes", "3"])
    image = cv2.imread(str(out))
    assert image is not None and image.shape[1] > 2 * image.shape[0]  # three frames side by side
    with pytest.raises(SystemExit) as exit_info:
        main(["env", "show", "rnnagents/MNIST28-v0", "--out", str(tmp_path / "x.txt")])
    assert exit_info.value.code == 2 and "'.txt'" in capsys.readouterr().err
    assert not (tmp_path / "x.txt").exists()


@pytest.mark.slow
def test_building_the_parser_imports_no_torch():
    """What keeps `rnnagents --help` fast: torch (and SB3) load only once a command runs."""
    script = (
        "import sys; from rnnagents.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('torch', 'stable_baselines3') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "flags, message",
    [(["--lr", "inf"], "lr (--lr) must be > 0, finite and below 2**63, got inf"),
     (["--location-std", "inf"], "location_std (--location-std) must be > 0"),
     (["--seed", "-1"], "seed (--seed) must be >= 0, finite and below 2**63, got -1"),
     (["--seed", str(2**70)], "below 2**63, got 1180591620717411303424"),
     (["--epochs", "9" * 400], "epochs (--epochs) must be >= 1, finite and below 2**63"),
     (["--env", "os:Evil-v0"], "unknown glimpse env 'os:Evil-v0'")],
)  # fmt: skip
def test_hyperparameters_that_break_training_are_refused_naming_the_flag(flags, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "ram", *flags])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_a_file_where_a_folder_should_be_is_one_line_and_exit_1(tmp_path, capsys):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "ram", str(tmp_path / "a-file" / "run")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and "a-file/run is not a run directory" in err


def test_a_config_json_of_wrong_types_is_named_not_a_traceback(tmp_path, capsys):
    (tmp_path / "config.json").write_text('{"agent": "ram", "config": {"epochs": "5"}}')
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "ram", str(tmp_path)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "saved config does not fit RAMRunConfig" in err


def test_a_config_naming_a_module_is_refused_before_anything_imports_it(tmp_path, capsys):
    """gym.make("evil_module:Env-v0") would import evil_module: a run's env id is checked first."""
    (tmp_path / "evil_module.py").write_text(f"open({str(tmp_path / 'ran')!r}, 'w')\n")
    config = {"env_id": "evil_module:Env-v0"}
    (tmp_path / "config.json").write_text(json.dumps({"agent": "ram", "config": config}))
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(SystemExit) as exit_info:
            main(["train", "ram", "--resume", str(tmp_path)])
    finally:
        sys.path.remove(str(tmp_path))
    assert exit_info.value.code == 2 and "unknown glimpse env" in capsys.readouterr().err
    assert not (tmp_path / "ran").exists()


def test_collect_into_an_existing_run_refuses_config_flags(tmp_path, capsys):
    from rnnagents.common.run_dir import start_run_dir

    start_run_dir(tmp_path, WM_PRESETS["smoke"].as_dict(), "worldmodel")
    with pytest.raises(SystemExit) as exit_info:
        main(["collect", "--run-dir", str(tmp_path), "--collect-episodes", "7"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "--collect-episodes cannot change an existing run" in err


def test_ctrl_c_outside_a_checkpointed_loop_exits_130_in_one_line(monkeypatch, capsys):
    import rnnagents.cli as cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.COMMANDS, ("watch", None), interrupted)
    with pytest.raises(SystemExit) as exit_info:
        main(["watch", "some-run"])
    assert exit_info.value.code == 130 and "stopped by Ctrl-C" in capsys.readouterr().err
