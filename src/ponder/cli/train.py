"""``ponder train``: one subcommand per trainer, from the ``TRAINERS`` table."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ponder.cli.common import Parser, examples, output_dir, overrides_of
from ponder.errors import read_json


@dataclass(frozen=True)
class Trainer:
    """One ``ponder train`` command: where its config and function live, its default recipe, and
    the options it has besides those every trainer has (--recipe, --out, --resume, --seed, --set)."""

    module: str
    config: str
    function: str
    recipe: str
    help: str
    options: tuple[tuple[str, dict], ...] = ()
    """(flag, argparse keywords) of its own options; each sets the config field of its name."""


_INIT = ("--init", dict(metavar="PATH_OR_NAME",
                        help="policy to improve: a model directory or a shipped policy (nano-v2, nano-v2-sft, nano-v2-par, nano-rl, nano-sft; default: the recipe's)"))
_WORKERS = (("--workers", dict(type=int, metavar="N",
                               help="sample rollouts on N Ray actors (default: 0, in this process; needs ponder[ray])")),
            ("--ray-address", dict(metavar="ADDR", help="an existing Ray cluster for the workers (default: a local Ray)")))

TRAINERS = {
    "sft": Trainer("ponder.train.sft", "SFTConfig", "train_sft", "nano-default", "supervised training on solver traces",
                   (("--steps", dict(type=int)), ("--examples", dict(type=int)))),
    "rm": Trainer("ponder.train.rm", "RMConfig", "train_rm", "rm-default",
                  "train a reward model on the policy's own samples",
                  (("--kind", dict(required=True, choices=("orm", "prm", "genrm", "critic"),
                                   help="orm (outcome), prm (process / value, Monte Carlo labels), genrm (generative "
                                        "verifier, with chain of thought), critic (text critique)")),
                   ("--policy", dict(metavar="PATH_OR_NAME",
                                     help="policy whose solutions are judged (default: the recipe's)")))),
    "ei": Trainer("ponder.train.expert", "ExpertConfig", "train_expert", "ei-default",
                  "expert iteration: sample, keep verified solutions, fine-tune, repeat", (_INIT, *_WORKERS)),
    "grpo": Trainer("ponder.train.grpo", "GRPOConfig", "train_grpo", "grpo-default",
                    "GRPO against the rule verifier, optionally with process rewards", (_INIT, *_WORKERS)),
    "selfplay": Trainer("ponder.train.selfplay", "SelfPlayConfig", "train_selfplay", "selfplay-default",
                        "AlphaZero-style self-play: MCTS visits into the policy, outcomes into the value model",
                        (_INIT,)),  # self-play's searches run in this process
    "r3": Trainer("ponder.train.curriculum", "R3Config", "train_r3", "r3-default",
                  "reverse curriculum (R^3): GRPO from late in solver traces, moving the start earlier",
                  (_INIT, *_WORKERS)),
    "rise": Trainer("ponder.train.rise", "RiseConfig", "train_rise", "rise-default",
                    "self-correction (RISE): learn to revise failed attempts into verified ones", (_INIT, *_WORKERS)),
}


def add_parsers(sub) -> None:
    p = sub.add_parser("train", help="train models",
                       epilog=examples("ponder train sft --recipe nano-tiny --out runs/tiny",
                                       "ponder train grpo --out runs/grpo --set steps=20"))
    tsub = p.add_subparsers(dest="trainer", required=True, parser_class=Parser)
    for name, trainer in TRAINERS.items():
        t = tsub.add_parser(name, help=trainer.help, epilog=examples(
            f"ponder train {name}{' --kind prm' if name == 'rm' else ''} --out runs/{name}",
            f"ponder train {name}{' --kind prm' if name == 'rm' else ''} --out runs/{name} --resume   # after Ctrl-C"))
        t.add_argument("--recipe", default=trainer.recipe, help=f"named recipe (default: {trainer.recipe})")
        t.add_argument("--out", metavar="DIR", type=output_dir, help="run directory (default: runs/RECIPE, or runs/KIND for rm)")
        t.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
        t.add_argument("--seed", type=int)
        t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any recipe field (JSON values)")
        t.add_argument("--log-to", metavar="SINKS",
                       help="also log the metrics to tensorboard and/or wandb (comma-separated; default: $PONDER_LOG_TO)")
        for flag, options in trainer.options:
            t.add_argument(flag, **options)
        t.set_defaults(func=cmd_train)


def cmd_train(args) -> int:
    """Every trainer's command: the recipe with the options over it (or, resuming, the run's own
    config), the run, and a clean stop on Ctrl-C."""
    import importlib

    from ponder.train.config import build
    from ponder.train.recipes import load_recipe

    from ponder.train.loggers import ENV, sink_names

    if args.log_to is not None:
        sink_names(args.log_to)  # a wrong name is refused before the run starts
        os.environ[ENV] = args.log_to  # read by the run (ponder.train.run), as when set in the shell
    trainer = TRAINERS[args.trainer]
    module = importlib.import_module(trainer.module)
    config, train = getattr(module, trainer.config), getattr(module, trainer.function)
    overrides = overrides_of(args)
    for flag, _ in trainer.options + (("--seed", {}),):
        key = flag.removeprefix("--").replace("-", "_")
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    kind = overrides.get("kind")  # a reward model's: its recipe section, its default run directory
    out = args.out or f"runs/{kind or args.recipe}"
    if args.resume and (Path(out) / "config.json").is_file():
        recorded = read_json(Path(out) / "config.json", "a run's config")
        cfg = build(config, {**recorded, **overrides, "out": out})  # where it is now, if it was moved
    else:
        cfg = load_recipe(args.recipe, config, section=kind, out=out, **overrides)
    t0 = time.perf_counter()
    try:
        path = train(cfg, resume=args.resume)
    except KeyboardInterrupt:
        again = f"ponder train {args.trainer}{f' --kind {kind}' if kind else ''} --out {out} --resume"
        print(f"\ninterrupted: checkpoint saved; continue with: {again}", file=sys.stderr)
        return 130
    what = f"reward model ({kind})" if kind else "model"
    print(f"{what} written to {path} ({time.perf_counter() - t0:.0f} s this session); "
          f"plot the run with: ponder report {out}")
    return 0
