"""The rnnagents command: environments, training, evaluation and watching."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import gymnasium as gym

from rnnagents.common.checkpoint import CheckpointError
from rnnagents.train.ram.config import PRESETS as RAM_PRESETS
from rnnagents.worldmodel.config import PRESETS as WM_PRESETS


def _bool_flag(parser: argparse.ArgumentParser, name: str, help_text: str) -> None:
    parser.add_argument(
        f"--{name}", action=argparse.BooleanOptionalAction, default=None, help=help_text
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnnagents", description=__doc__)
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
    show = env_sub.add_parser("show", help="render a few episodes' first frames to an image")
    show.add_argument("env_id", help="a registered id, e.g. rnnagents/ClutteredMNIST60-v0")
    show.add_argument("--out", required=True, help="output image (.png)")
    show.add_argument("--episodes", type=int, default=4, help="number of episodes (default 4)")
    show.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    show.add_argument("--data-dir", help="folder with MNIST-format IDX files")

    train = sub.add_parser("train", help="train an agent")
    train_sub = train.add_subparsers(dest="agent", required=True)
    ram = train_sub.add_parser("ram", help="Recurrent Attention Model on a glimpse env")
    ram.add_argument(
        "--preset",
        choices=sorted(RAM_PRESETS),
        default="default",
        help="named config to start from (smoke: seconds; default; paper)",
    )
    ram.add_argument(
        "--env",
        dest="env_id",
        help="glimpse env id (default of the preset: rnnagents/ClutteredMNIST60-v0)",
    )
    ram.add_argument(
        "--glimpses", dest="n_glimpses", type=int, help="glimpses per image (default: the env's)"
    )
    ram.add_argument("--epochs", type=int, help="number of epochs")
    ram.add_argument("--batches-per-epoch", type=int, help="training batches per epoch")
    ram.add_argument("--batch-size", type=int, help="images per batch")
    ram.add_argument("--lr", type=float, help="Adam learning rate")
    ram.add_argument("--core", choices=["rnn", "lstm", "gru"], help="recurrent core")
    ram.add_argument("--hidden-size", type=int, help="core state size")
    ram.add_argument("--location-std", type=float, help="std of the Gaussian location policy")
    ram.add_argument("--reinforce-weight", type=float, help="weight of the REINFORCE term")
    _bool_flag(
        ram,
        "reinforce-trains-core",
        "let REINFORCE train the core through h_t (the paper does; default off)",
    )
    _bool_flag(ram, "random-locations", "glimpse at uniformly random locations (an ablation)")
    ram.add_argument("--valid-episodes", type=int, help="validation episodes per epoch")
    ram.add_argument("--device", help="auto (CUDA when available), cpu or cuda")
    ram.add_argument("--seed", type=int, help="random seed")
    ram.add_argument(
        "--data-dir",
        help="folder with the four MNIST-format IDX files "
        "(default: cache, then the offline 5,000-digit sample)",
    )
    ram.add_argument("--run-dir", help="run directory (default runs/ram-ENV-TIME)")
    ram.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR")
    ram.add_argument(
        "--wandb", action="store_true", help="log to Weights & Biases (mode from WANDB_MODE)"
    )
    ram.add_argument("--no-progress", action="store_true", help="no progress bar")

    wm = train_sub.add_parser("worldmodel", help="World Models on CarRacing: every stage in order")
    _worldmodel_flags(wm, "smoke: minutes; default: 1-2 hours on 2 cores; paper: the paper's scale")
    wm.add_argument("--resume", metavar="RUN_DIR", help="continue the pipeline in RUN_DIR")
    for stage, text in (
        ("vae", "train V on the collected frames (and encode them)"),
        ("mdnrnn", "train M on the encoded latents"),
        ("controller", "train C with CMA-ES inside M's dream"),
    ):
        stage_parser = train_sub.add_parser(stage, help=f"world-model stage: {text}")
        stage_parser.add_argument("run_dir", help="world-model run directory")
        stage_parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        stage_parser.add_argument("--wandb", action="store_true", help="log to W&B")
    ppo = train_sub.add_parser(
        "ppo", help="Stable-Baselines3 PPO / RecurrentPPO on any of our envs"
    )
    ppo.add_argument(
        "--env",
        dest="env_id",
        required=True,
        help="a glimpse id, CarRacing-v3, or dream:RUN_DIR (a world-model run)",
    )
    ppo.add_argument("--recurrent", action="store_true", help="sb3_contrib RecurrentPPO (LSTM)")
    ppo.add_argument("--timesteps", type=int, help="environment steps (default 100000)")
    ppo.add_argument("--n-envs", type=int, help="parallel envs (default 8)")
    ppo.add_argument("--n-steps", type=int, help="rollout length per env (default: SB3's)")
    ppo.add_argument("--batch-size", type=int, help="minibatch size (default: SB3's)")
    ppo.add_argument("--lr", dest="learning_rate", type=float, help="learning rate (3e-4)")
    ppo.add_argument(
        "--dict-obs",
        action="store_true",
        help="glimpse envs: keep the Dict observation (MultiInputPolicy)",
    )
    ppo.add_argument("--data-dir", help="glimpse envs: folder with MNIST-format IDX files")
    ppo.add_argument("--device", help="auto, cpu or cuda")
    ppo.add_argument("--seed", type=int, help="random seed")
    ppo.add_argument("--run-dir", help="run directory (default runs/ppo-ENV-TIME)")
    ppo.add_argument("--wandb", action="store_true", help="log to W&B (mode from WANDB_MODE)")
    ppo.add_argument("--no-progress", action="store_true", help="no progress bar")
    col = sub.add_parser("collect", help="world-model stage: real CarRacing episodes to shards")
    _worldmodel_flags(col, "config for a new run directory")

    ev = sub.add_parser("eval", help="evaluate a trained agent")
    ev_sub = ev.add_subparsers(dest="agent", required=True)
    ev_ram = ev_sub.add_parser("ram", help="error rate of a RAM run with a 95%% interval")
    ev_ram.add_argument("run_dir", help="run directory of `rnnagents train ram`")
    ev_ram.add_argument(
        "--split",
        choices=["train", "validation", "test"],
        default="test",
        help="data split (default test)",
    )
    ev_ram.add_argument("--episodes", type=int, default=1000, help="episodes (default 1000)")
    ev_ram.add_argument(
        "--samples",
        type=int,
        default=1,
        help="also report M-sample Monte-Carlo averaging (M=1 always reported)",
    )
    ev_ram.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ev_ram.add_argument("--json", dest="json_out", help="also write the report to this file")
    ev_ppo = ev_sub.add_parser(
        "ppo",
        help="glimpse runs: error rate (95%% CI); CarRacing and dream runs: real-game score "
        "on unseen tracks (RUN_DIR/eval.json)",
    )
    ev_ppo.add_argument("run_dir", help="run directory of `rnnagents train ppo`")
    ev_ppo.add_argument(
        "--split",
        choices=["train", "validation", "test"],
        help="glimpse runs: data split (default test)",
    )
    ev_ppo.add_argument(
        "--episodes", type=int, help="episodes (default: 1000 glimpse episodes, 100 tracks)"
    )
    ev_ppo.add_argument(
        "--workers", type=int, help="CarRacing and dream runs: parallel game processes (1)"
    )
    ev_wm = ev_sub.add_parser("worldmodel", help="score in the real CarRacing-v3 on unseen tracks")
    ev_wm.add_argument("run_dir", help="run directory of `rnnagents train worldmodel`")
    ev_wm.add_argument("--episodes", type=int, default=100, help="unseen tracks (default 100)")
    ev_wm.add_argument("--workers", type=int, help="parallel env processes (default: the run's)")
    ev_wm.add_argument(
        "--no-baselines",
        action="store_true",
        help="skip the random / exploration / random-weights baselines",
    )

    watch = sub.add_parser("watch", help="video of a trained agent at work")
    watch.add_argument("run_dir", help="a run directory")
    watch.add_argument("--episodes", type=int, default=3, help="episodes to film (default 3)")
    watch.add_argument("--out", help="output .mp4 or .gif (default RUN_DIR/watch.mp4)")
    watch.add_argument(
        "--max-steps",
        type=int,
        help="ppo and worldmodel runs: cut each episode at N steps (default: its end)",
    )
    watch.add_argument("--device", default="auto", help="auto, cpu or cuda")
    return parser


def _worldmodel_flags(parser: argparse.ArgumentParser, preset_help: str) -> None:
    parser.add_argument("--preset", choices=sorted(WM_PRESETS), default="default", help=preset_help)
    parser.add_argument("--run-dir", help="run directory (default runs/worldmodel-TIME)")
    parser.add_argument("--workers", type=int, help="parallel CarRacing processes")
    parser.add_argument(
        "--episodes", dest="collect_episodes", type=int, help="real episodes to collect"
    )
    parser.add_argument(
        "--generations", dest="cmaes_generations", type=int, help="CMA-ES generations in the dream"
    )
    parser.add_argument(
        "--eval-episodes", type=int, help="unseen real tracks in the final evaluation"
    )
    parser.add_argument(
        "--iterations",
        type=int,
        help="iterative training: rounds of collecting with the controller, retraining M and C",
    )
    parser.add_argument("--device", help="auto (CUDA when available), cpu or cuda")
    parser.add_argument("--seed", type=int, help="random seed")
    parser.add_argument(
        "--wandb", action="store_true", help="log to Weights & Biases (mode from WANDB_MODE)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def cmd_env(args: argparse.Namespace) -> None:
    from rnnagents.envs.registration import describe_envs

    if args.env_command == "list":
        for env_id, text in describe_envs().items():
            print(f"{env_id:34s} {text}")
        return
    import cv2

    from rnnagents.common.video import tile_frames

    if args.episodes < 1:
        raise ValueError("--episodes must be >= 1")
    kwargs = {"data_dir": args.data_dir} if args.data_dir else {}
    env = gym.make(args.env_id, render_mode="rgb_array", **kwargs)
    frames = []
    for i in range(args.episodes):
        env.reset(seed=args.seed + i)
        frames.append(env.render())
    image = tile_frames([frames])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise ValueError(f"could not write image {out} (use a .png or .jpg name)")
    print(f"wrote {out} ({args.episodes} episodes of {args.env_id})")


def cmd_train_ram(args: argparse.Namespace) -> None:
    from rnnagents.common.configs import with_overrides
    from rnnagents.common.run_dir import default_run_dir
    from rnnagents.train.ram.trainer import resume_config, run_ram

    if args.resume:
        config = resume_config(args.resume, epochs=args.epochs, device=args.device)
        run_dir = Path(args.resume)
    else:
        config = with_overrides(
            RAM_PRESETS[args.preset],
            env_id=args.env_id,
            n_glimpses=args.n_glimpses,
            epochs=args.epochs,
            batches_per_epoch=args.batches_per_epoch,
            batch_size=args.batch_size,
            lr=args.lr,
            core=args.core,
            hidden_size=args.hidden_size,
            location_std=args.location_std,
            reinforce_weight=args.reinforce_weight,
            reinforce_trains_core=args.reinforce_trains_core,
            random_locations=args.random_locations,
            valid_episodes=args.valid_episodes,
            device=args.device,
            seed=args.seed,
            data_dir=args.data_dir,
        )
        run_dir = Path(args.run_dir) if args.run_dir else default_run_dir("ram", config.env_id)
    print(f"run directory: {run_dir}")
    report = run_ram(
        config, run_dir, resume=bool(args.resume), wandb=args.wandb, progress=not args.no_progress
    )
    if report is None:
        sys.exit(130)
    from rnnagents.common.stats import report_lines

    print(f"{report_lines(report)[0]}; outputs in {run_dir}")


def cmd_eval_ram(args: argparse.Namespace) -> None:
    from rnnagents.common.files import write_json
    from rnnagents.common.stats import report_lines
    from rnnagents.train.ram.evaluate import evaluate_run

    report = evaluate_run(
        args.run_dir,
        split=args.split,
        episodes=args.episodes,
        samples=args.samples,
        device=args.device,
    )
    print("\n".join(report_lines(report)))
    if args.json_out:
        write_json(args.json_out, report)


def cmd_watch(args: argparse.Namespace) -> None:
    from rnnagents.common.video import show_frames, write_video
    from rnnagents.train import film

    frames, fps = film(args.run_dir, args.episodes, args.max_steps, args.device)
    out = write_video(
        frames, Path(args.out) if args.out else Path(args.run_dir) / "watch.mp4", fps=fps
    )
    print(f"wrote {out} ({len(frames)} frames, {args.episodes} episodes)")
    show_frames(frames, fps=fps)  # a window only where there is a display


def cmd_train_ppo(args: argparse.Namespace) -> None:
    from rnnagents.common.run_dir import default_run_dir
    from rnnagents.train.ppo.config import PPORunConfig, is_glimpse_id
    from rnnagents.train.ppo.trainer import train_ppo

    given = dict(
        recurrent=args.recurrent,
        timesteps=args.timesteps,
        n_envs=args.n_envs,
        n_steps=args.n_steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        dict_obs=args.dict_obs,
        data_dir=args.data_dir,
        device=args.device,
        seed=args.seed,
    )
    config = PPORunConfig(args.env_id, **{k: v for k, v in given.items() if v is not None})
    name = args.env_id.replace(":", "-")
    run_dir = Path(args.run_dir) if args.run_dir else default_run_dir("ppo", name)
    print(f"run directory: {run_dir}")
    train_ppo(config, run_dir, wandb=args.wandb, progress=not args.no_progress)
    if is_glimpse_id(config.env_id):
        from rnnagents.common.stats import report_lines
        from rnnagents.train.ppo.evaluate import evaluate_run

        print("\n".join(report_lines(evaluate_run(run_dir))))


def cmd_eval_ppo(args: argparse.Namespace) -> None:
    from rnnagents.common.stats import report_lines
    from rnnagents.train.ppo.evaluate import evaluate_run

    report = evaluate_run(
        args.run_dir, split=args.split, episodes=args.episodes, workers=args.workers
    )
    print("\n".join(report_lines(report)))


def _new_worldmodel_config(args: argparse.Namespace):
    from rnnagents.common.configs import with_overrides

    config = with_overrides(
        WM_PRESETS[args.preset],
        workers=args.workers,
        collect_episodes=args.collect_episodes,
        cmaes_generations=args.cmaes_generations,
        eval_episodes=args.eval_episodes,
        iterations=args.iterations,
        device=args.device,
        seed=args.seed,
    )
    return config


def _run_worldmodel_stages(
    run_dir, config, stages, *, new: bool, wandb: bool, progress: bool, force: bool
) -> None:
    from rnnagents.train.worldmodel.pipeline import PipelineStopped, open_pipeline

    pipeline, executor, logger = open_pipeline(
        config, run_dir, new=new, wandb=wandb, progress=progress
    )
    try:
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
    from rnnagents.common.run_dir import default_run_dir
    from rnnagents.train.worldmodel.pipeline import pipeline_stages
    from rnnagents.worldmodel.run_files import run_config

    if args.resume:
        run_dir, config = Path(args.resume), run_config(args.resume)
    else:
        config = _new_worldmodel_config(args)
        run_dir = Path(args.run_dir) if args.run_dir else default_run_dir("worldmodel")
    print(f"run directory: {run_dir}")
    _run_worldmodel_stages(
        run_dir,
        config,
        pipeline_stages(config),
        new=not args.resume,
        wandb=args.wandb,
        progress=not args.no_progress,
        force=False,
    )
    _print_worldmodel_eval(run_dir)


def cmd_collect(args: argparse.Namespace) -> None:
    from rnnagents.common.run_dir import CONFIG_FILE, default_run_dir
    from rnnagents.worldmodel.run_files import run_config

    run_dir = Path(args.run_dir) if args.run_dir else default_run_dir("worldmodel")
    new = not (run_dir / CONFIG_FILE).exists()
    config = _new_worldmodel_config(args) if new else run_config(run_dir)
    _run_worldmodel_stages(
        run_dir,
        config,
        ["collect"],
        new=new,
        wandb=args.wandb,
        progress=not args.no_progress,
        force=True,
    )


def cmd_train_stage(args: argparse.Namespace) -> None:
    from rnnagents.worldmodel.run_files import run_config

    stages = {"vae": ["vae", "encode"], "mdnrnn": ["mdnrnn"], "controller": ["controller"]}
    _run_worldmodel_stages(
        args.run_dir,
        run_config(args.run_dir),
        stages[args.agent],
        new=False,
        wandb=args.wandb,
        progress=not args.no_progress,
        force=True,
    )


def _print_worldmodel_eval(run_dir) -> None:
    import json

    from rnnagents.common.stats import EVAL_FILE, report_lines

    print("\n".join(report_lines(json.loads((Path(run_dir) / EVAL_FILE).read_text()))))


def cmd_eval_worldmodel(args: argparse.Namespace) -> None:
    from rnnagents.common.stats import report_lines
    from rnnagents.train.worldmodel.evaluate import evaluate_run

    report = evaluate_run(
        args.run_dir, episodes=args.episodes, workers=args.workers, baselines=not args.no_baselines
    )
    print("\n".join(report_lines(report)))


COMMANDS = {
    ("env", None): cmd_env,
    ("train", "ram"): cmd_train_ram,
    ("eval", "ram"): cmd_eval_ram,
    ("train", "worldmodel"): cmd_train_worldmodel,
    ("train", "ppo"): cmd_train_ppo,
    ("eval", "ppo"): cmd_eval_ppo,
    ("train", "vae"): cmd_train_stage,
    ("train", "mdnrnn"): cmd_train_stage,
    ("train", "controller"): cmd_train_stage,
    ("collect", None): cmd_collect,
    ("eval", "worldmodel"): cmd_eval_worldmodel,
    ("watch", None): cmd_watch,
}


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"rnnagents: {category.__name__}: {message}\n"


def main(argv: list[str] | None = None) -> None:
    warnings.formatwarning = _one_line_warning  # notices read as one line, not a traceback
    args = build_parser().parse_args(argv)
    if args.threads is not None:
        import torch

        if args.threads < 1:
            raise SystemExit("rnnagents: error: --threads must be >= 1")
        torch.set_num_threads(args.threads)
    try:
        COMMANDS[(args.command, getattr(args, "agent", None))](args)
    except (
        ValueError,
        FileNotFoundError,
        FileExistsError,
        CheckpointError,
        gym.error.Error,
    ) as err:
        print(f"rnnagents: error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
