"""The rnnagents command: environments, training, evaluation and watching.

The flags of ``train KIND`` (and ``collect``) are generated from the kind's run config dataclass
(``rnnagents/train/KIND/config.py``): a field's help text lives once, in its ``option(...)``,
and the default shown is the ``default`` preset's own value, so neither can drift. Flags left
out keep the preset's value. Agents, torch and SB3 are imported only once a command runs, so
``rnnagents --help`` answers at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
import warnings
from pathlib import Path
from types import ModuleType, UnionType

from rnnagents.common.executor import BACKENDS  # stdlib only: keeps --help fast

EVAL_SPLITS = ["train", "validation", "test"]


# -- flags from config dataclasses ---------------------------------------------------------------
def _config_module(kind: str) -> ModuleType:
    from rnnagents.train import kind_module  # torch-free: configs are plain dataclasses

    return kind_module(kind, "config")


def _field_type(annotation: object) -> type:
    """``int`` of ``int | None``; the plain type otherwise."""
    if isinstance(annotation, UnionType) or typing.get_origin(annotation) is typing.Union:
        (inner,) = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return inner
    return annotation  # type: ignore[return-value]


def add_config_flags(parser: argparse.ArgumentParser, kind: str) -> None:
    """One flag per ``option`` field of ``kind``'s run config, its default left to the preset."""
    module = _config_module(kind)
    shown = module.PRESETS.get("default")
    hints = typing.get_type_hints(module.CONFIG)
    group = parser.add_argument_group(f"{kind} config (rnnagents/train/{kind}/config.py)")
    for field in dataclasses.fields(module.CONFIG):
        meta = field.metadata
        flag = "--" + (meta["flag"] or field.name).replace("_", "-")
        required = field.default is dataclasses.MISSING
        help_text = meta["help"].replace("%", "%%")
        value = field.default if shown is None else getattr(shown, field.name)
        if not required and value is not None:  # None: the help says what happens
            help_text += f" (default: {value})"
        kind_of_value = _field_type(hints[field.name])
        if kind_of_value is bool:
            group.add_argument(flag, dest=field.name, action=argparse.BooleanOptionalAction,
                               help=help_text)  # fmt: skip
        else:
            group.add_argument(flag, dest=field.name, type=kind_of_value, required=required,
                               choices=meta["choices"], help=help_text)  # fmt: skip


def given_config(args: argparse.Namespace, kind: str) -> dict:
    """The config fields whose flags were given (None means "not given")."""
    names = [field.name for field in dataclasses.fields(_config_module(kind).CONFIG)]
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def new_config(args: argparse.Namespace, kind: str):
    """The preset named by ``--preset`` (or the bare dataclass) with the given flags applied."""
    from rnnagents.common.configs import with_overrides

    module = _config_module(kind)
    if module.PRESETS:
        return with_overrides(module.PRESETS[args.preset or "default"], **given_config(args, kind))
    return module.CONFIG(**given_config(args, kind))


def refuse_on_resume(args: argparse.Namespace, kind: str, allowed: set[str] = frozenset()) -> None:
    """A run that exists keeps its config: flags that would change it are an error, named."""
    given = sorted(set(given_config(args, kind)) - allowed)
    if args.preset is not None:
        given.insert(0, "preset")
    if getattr(args, "resume", None) and args.run_dir is not None:
        given.append("run_dir")
    if given:
        names = ", ".join("--" + name.replace("_", "-") for name in given)
        raise ValueError(f"{names} cannot change an existing run; leave them out")


# -- the parser ----------------------------------------------------------------------------------
def _parents() -> dict[str, argparse.ArgumentParser]:
    logged = argparse.ArgumentParser(add_help=False)
    logged.add_argument(
        "--wandb", action="store_true", help="log to Weights & Biases (mode from WANDB_MODE)"
    )
    logged.add_argument("--no-progress", action="store_true", help="no progress bars")
    run = argparse.ArgumentParser(add_help=False, parents=[logged])
    run.add_argument("--run-dir", help="run directory (default: runs/KIND-...-TIME)")
    device = argparse.ArgumentParser(add_help=False)
    device.add_argument(
        "--device", default="auto", help="auto (CUDA when available), cpu or cuda[:N]"
    )
    played = argparse.ArgumentParser(add_help=False)
    played.add_argument("run_dir", help="a run directory")
    executor = argparse.ArgumentParser(add_help=False)
    executor.add_argument(
        "--backend",
        choices=BACKENDS,
        default="process",
        help="how real CarRacing episodes run: in this process, a process pool of --workers, "
        "or Ray tasks (default: process)",
    )
    executor.add_argument(
        "--ray-address",
        help="--backend ray: join this cluster (auto: the one `ray start` made here; "
        "default: start a local Ray instance)",
    )
    bar = argparse.ArgumentParser(add_help=False)
    bar.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    return {
        "logged": logged, "run": run, "device": device, "run_dir": played, "executor": executor,
        "bar": bar,
    }  # fmt: skip


def _add_preset(parser: argparse.ArgumentParser, kind: str, text: str) -> None:
    presets = sorted(_config_module(kind).PRESETS)
    parser.add_argument("--preset", choices=presets, help=f"named config to start from ({text})")


def build_parser() -> argparse.ArgumentParser:
    p = _parents()
    parser = argparse.ArgumentParser(prog="rnnagents", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads (default: torch's choice; 1 is often fastest "
        "for these small networks on a busy machine)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    env = sub.add_parser("env", help="list or look at the registered environments")
    env_sub = env.add_subparsers(dest="env_command", required=True)
    env_sub.add_parser("list", help="registered env ids with one-line descriptions")
    show = env_sub.add_parser("show", help="the first frames of a few episodes, as one image")
    show.add_argument("env_id", help="a registered id, e.g. rnnagents/ClutteredMNIST60-v0")
    show.add_argument("--out", required=True, help="output image (.png or .jpg)")
    show.add_argument("--episodes", type=int, default=4, help="episodes to show (default 4)")
    show.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    show.add_argument("--data-dir", help="glimpse envs: folder with MNIST-format IDX files")

    train = sub.add_parser("train", help="train an agent")
    train_sub = train.add_subparsers(dest="agent", required=True)
    ram = train_sub.add_parser(
        "ram", parents=[p["run"]], help="Recurrent Attention Model on a glimpse env"
    )
    _add_preset(ram, "ram", "smoke: seconds; demo: a learned agent in a minute; default; paper")
    ram.add_argument(
        "--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR (--epochs may grow)"
    )
    add_config_flags(ram, "ram")
    wm = train_sub.add_parser(
        "worldmodel",
        parents=[p["run"], p["executor"]],
        help="World Models on CarRacing: every stage in order",
    )
    _add_preset(wm, "worldmodel", "smoke: minutes; default: about two hours; paper: the paper's")
    wm.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue the pipeline in RUN_DIR (--iterations may grow: more rounds)",
    )
    add_config_flags(wm, "worldmodel")
    for stage, text in (
        ("vae", "train V on the collected frames (and encode them)"),
        ("mdnrnn", "train M on the encoded latents"),
        ("controller", "train C with CMA-ES inside M's dream"),
    ):
        train_sub.add_parser(
            stage,
            parents=[p["run_dir"], p["logged"], p["executor"]],
            help=f"world-model stage: {text}",
        )
    ppo = train_sub.add_parser(
        "ppo", parents=[p["run"]], help="Stable-Baselines3 PPO / RecurrentPPO on any of our envs"
    )
    add_config_flags(ppo, "ppo")
    collect = sub.add_parser(
        "collect",
        parents=[p["run"], p["executor"]],
        help="world-model stage: real CarRacing episodes to shards",
    )
    _add_preset(collect, "worldmodel", "the config of a new run directory")
    add_config_flags(collect, "worldmodel")

    ev = sub.add_parser(
        "eval", help="evaluate a trained agent; the report goes to RUN_DIR/eval.json"
    )
    ev_sub = ev.add_subparsers(dest="agent", required=True)
    episodes = argparse.ArgumentParser(add_help=False)
    episodes.add_argument("--episodes", type=int, help="episodes to play (default: as below)")
    ev_ram = ev_sub.add_parser(
        "ram",
        parents=[p["run_dir"], p["device"]],
        help="test error of a RAM run with a 95%% interval",
    )
    ev_ram.add_argument("--split", choices=EVAL_SPLITS, default="test", help="data split")
    ev_ram.add_argument("--episodes", type=int, default=1000, help="episodes (default 1000)")
    ev_ram.add_argument(
        "--samples", type=int, default=1, help="also report M-sample averaging (M=1 always is)"
    )
    ev_ram.add_argument("--json", dest="json_out", help="also write the report to this file")
    ev_ppo = ev_sub.add_parser(
        "ppo",
        parents=[p["run_dir"], p["device"], p["executor"], p["bar"]],
        help="glimpse runs: test error (95%% CI); CarRacing and dream runs: real-game score "
        "on unseen tracks",
    )
    ev_ppo.add_argument("--split", choices=EVAL_SPLITS, help="glimpse runs: data split (test)")
    ev_ppo.add_argument(
        "--episodes", type=int, help="episodes (default: 1000 glimpse episodes, 100 tracks)"
    )
    ev_ppo.add_argument(
        "--workers", type=int, help="CarRacing and dream runs: parallel game processes (1)"
    )
    ev_wm = ev_sub.add_parser(
        "worldmodel",
        parents=[p["run_dir"], p["executor"], p["bar"]],
        help="score in CarRacing-v3 on unseen tracks",
    )
    ev_wm.add_argument("--episodes", type=int, default=100, help="unseen tracks (default 100)")
    ev_wm.add_argument("--workers", type=int, help="parallel env processes (default: the run's)")
    ev_wm.add_argument(
        "--no-baselines",
        dest="baselines",
        action="store_false",
        help="skip the random / exploration / random-weights baselines",
    )
    ev_wm.add_argument(
        "--action-noise",
        type=float,
        metavar="STD",
        help="std of the OU noise on C's actions (default: the one select chose, else the run's)",
    )

    watch = sub.add_parser(
        "watch", parents=[p["run_dir"], p["device"]], help="video of a trained agent at work"
    )
    watch.add_argument("--episodes", type=int, default=3, help="episodes to film (default 3)")
    watch.add_argument("--out", help="output .mp4 or .gif (default RUN_DIR/watch.mp4)")
    watch.add_argument(
        "--max-steps",
        type=int,
        help="ppo and worldmodel runs: cut each episode at N steps (default: its end)",
    )
    return parser


# -- commands ------------------------------------------------------------------------------------
def _print_report(report: dict, suffix: str = "") -> None:
    from rnnagents.common.stats import report_lines

    lines = report_lines(report)
    lines[0] += suffix
    print("\n".join(lines))


def cmd_env(args: argparse.Namespace) -> None:
    from rnnagents.envs.registration import describe_envs

    if args.env_command == "list":
        for env_id, text in describe_envs().items():
            print(f"{env_id:34s} {text}")
        return
    from rnnagents.common.video import write_image
    from rnnagents.envs.render import first_frames

    kwargs = {"data_dir": args.data_dir} if args.data_dir else {}
    out = write_image(first_frames(args.env_id, args.episodes, args.seed, **kwargs), args.out)
    print(f"wrote {out} ({args.episodes} episodes of {args.env_id})")


def cmd_train_ram(args: argparse.Namespace) -> None:
    from rnnagents.common.run_dir import default_run_dir
    from rnnagents.train.ram.config import RESUMABLE_CHANGES
    from rnnagents.train.ram.trainer import resume_config, run_ram

    if args.resume:
        refuse_on_resume(args, "ram", allowed=set(RESUMABLE_CHANGES))
        config = resume_config(args.resume, **given_config(args, "ram"))
        run_dir = Path(args.resume)
    else:
        config = new_config(args, "ram")
        run_dir = Path(args.run_dir) if args.run_dir else default_run_dir("ram", config.env_id)
    print(f"run directory: {run_dir}")
    report = run_ram(
        config, run_dir, resume=bool(args.resume), wandb=args.wandb, progress=not args.no_progress
    )
    if report is None:
        sys.exit(130)
    _print_report(report, f"; outputs in {run_dir}")


def cmd_train_ppo(args: argparse.Namespace) -> None:
    from rnnagents.common.run_dir import default_run_dir, locked
    from rnnagents.train.ppo.config import is_glimpse_id
    from rnnagents.train.ppo.evaluate import evaluate_run
    from rnnagents.train.ppo.trainer import train_ppo

    config = new_config(args, "ppo")
    name = config.env_id.replace(":", "-")
    run_dir = Path(args.run_dir) if args.run_dir else default_run_dir("ppo", name)
    print(f"run directory: {run_dir}")
    train_ppo(config, run_dir, wandb=args.wandb, progress=not args.no_progress)
    if is_glimpse_id(config.env_id):
        with locked(run_dir, create=False):
            _print_report(evaluate_run(run_dir, device=config.device))


def _run_worldmodel_stages(run_dir, config, stages, args, *, new: bool, force: bool) -> None:
    from rnnagents.common.run_dir import locked
    from rnnagents.train.worldmodel.pipeline import PipelineStopped, open_pipeline

    try:
        with locked(run_dir):
            pipeline, executor, logger = open_pipeline(
                config,
                run_dir,
                new=new,
                wandb=args.wandb,
                progress=not args.no_progress,
                backend=args.backend,
                ray_address=args.ray_address,
            )
            with executor, logger:
                for stage in stages:
                    pipeline.run_stage(stage, force=force)
    except (PipelineStopped, KeyboardInterrupt) as stopped:
        print(
            f"Stopped during {stopped or 'a stage'}; completed work is kept. Resume with: "
            f"rnnagents train worldmodel --resume {run_dir}",
            file=sys.stderr,
        )
        sys.exit(130)


def cmd_train_worldmodel(args: argparse.Namespace) -> None:
    from rnnagents.common.run_dir import default_run_dir, locked
    from rnnagents.common.stats import read_report
    from rnnagents.train.worldmodel.extend import add_rounds
    from rnnagents.train.worldmodel.pipeline import pipeline_stages
    from rnnagents.worldmodel.run_files import run_config

    if args.resume:
        refuse_on_resume(args, "worldmodel", allowed={"iterations"})
        run_dir, config = Path(args.resume), run_config(args.resume)
        if args.iterations is not None:
            with locked(run_dir, create=False):
                config = add_rounds(run_dir, config, args.iterations)
    else:
        config = new_config(args, "worldmodel")
        run_dir = Path(args.run_dir) if args.run_dir else default_run_dir("worldmodel")
    print(f"run directory: {run_dir}")
    _run_worldmodel_stages(
        run_dir,
        config,
        pipeline_stages(config),
        args,
        new=not args.resume,
        force=False,
    )
    _print_report(read_report(run_dir))


def cmd_collect(args: argparse.Namespace) -> None:
    from rnnagents.common.run_dir import CONFIG_FILE, default_run_dir
    from rnnagents.worldmodel.run_files import run_config

    run_dir = Path(args.run_dir) if args.run_dir else default_run_dir("worldmodel")
    new = not (run_dir / CONFIG_FILE).exists()
    if not new:
        refuse_on_resume(args, "worldmodel")  # collecting into a run keeps that run's config
    config = new_config(args, "worldmodel") if new else run_config(run_dir)
    _run_worldmodel_stages(
        run_dir,
        config,
        ["collect"],
        args,
        new=new,
        force=True,
    )


def cmd_train_stage(args: argparse.Namespace) -> None:
    from rnnagents.worldmodel.run_files import run_config

    stages = {"vae": ["vae", "encode"], "mdnrnn": ["mdnrnn"], "controller": ["controller"]}
    _run_worldmodel_stages(
        args.run_dir,
        run_config(args.run_dir),
        stages[args.agent],
        args,
        new=False,
        force=True,
    )


EVAL_OPTIONS = {
    "ram": ("split", "episodes", "samples", "device"),
    "ppo": ("split", "episodes", "workers", "device", "backend", "ray_address", "progress"),
    "worldmodel": (
        "episodes",
        "workers",
        "baselines",
        "backend",
        "ray_address",
        "progress",
        "action_noise",
    ),
}


def cmd_eval(args: argparse.Namespace) -> None:
    """Any kind's ``evaluate_run`` with the options of its subcommand."""
    from rnnagents.common.files import write_json
    from rnnagents.common.run_dir import locked
    from rnnagents.train import kind_module

    options = {name: getattr(args, name) for name in EVAL_OPTIONS[args.agent]}
    with locked(args.run_dir, create=False):  # eval.json is the run's: one writer
        report = kind_module(args.agent, "evaluate").evaluate_run(args.run_dir, **options)
    _print_report(report)
    if getattr(args, "json_out", None):
        write_json(args.json_out, report)


def cmd_watch(args: argparse.Namespace) -> None:
    from rnnagents.common.run_dir import locked
    from rnnagents.common.video import show_frames, write_video
    from rnnagents.train import film

    with locked(args.run_dir, create=False):  # the default film is written into the run
        frames, fps = film(args.run_dir, args.episodes, args.max_steps, args.device)
        out = write_video(
            frames, Path(args.out) if args.out else Path(args.run_dir) / "watch.mp4", fps=fps
        )
    print(f"wrote {out} ({len(frames)} frames, {args.episodes} episodes)")
    show_frames(frames, fps=fps)  # a window only where there is a display


COMMANDS = {
    ("env", None): cmd_env,
    ("train", "ram"): cmd_train_ram,
    ("train", "worldmodel"): cmd_train_worldmodel,
    ("train", "ppo"): cmd_train_ppo,
    ("train", "vae"): cmd_train_stage,
    ("train", "mdnrnn"): cmd_train_stage,
    ("train", "controller"): cmd_train_stage,
    ("collect", None): cmd_collect,
    ("eval", "ram"): cmd_eval,
    ("eval", "ppo"): cmd_eval,
    ("eval", "worldmodel"): cmd_eval,
    ("watch", None): cmd_watch,
}


def _exit_code(err: Exception) -> int | None:
    """1 for the user's situation (files, disk, a busy run, a failed episode), 2 for bad input
    (values, ids, foreign runs and checkpoints); None for a bug, which keeps its traceback."""
    import gymnasium as gym

    from rnnagents.common.checkpoint import CheckpointError
    from rnnagents.common.executor import TaskError
    from rnnagents.common.run_dir import RunDirInUse

    if isinstance(err, OSError | RunDirInUse | TaskError):
        return 1
    if isinstance(err, ValueError | CheckpointError | gym.error.Error):
        return 2
    return None


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"rnnagents: {category.__name__}: {message}\n"


def main(argv: list[str] | None = None) -> None:
    warnings.formatwarning = _one_line_warning  # notices read as one line, not a traceback
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be >= 1")
        import torch

        torch.set_num_threads(args.threads)
    try:
        COMMANDS[(args.command, getattr(args, "agent", None))](args)
    except KeyboardInterrupt:  # a second Ctrl-C, or one where no checkpoint is kept
        print("rnnagents: stopped by Ctrl-C", file=sys.stderr)
        sys.exit(130)
    except Exception as err:
        code = _exit_code(err)
        if code is None:
            raise
        print(f"rnnagents: error: {err}", file=sys.stderr)
        sys.exit(code)


if __name__ == "__main__":
    main()
