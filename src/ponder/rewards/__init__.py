"""Reward models behind one interface: the rule verifier (oracle), ORM, PRM / value model,
GenRM, GenRM-CoT and the text critic.

    >>> from ponder.rewards import get_reward, aggregate
    >>> rm = get_reward("prm")                      # the shipped PRM
    >>> per_step = rm.score(problem, [text_a, text_b])
    >>> best = max(range(2), key=lambda i: aggregate(per_step[i], "min"))
"""

from __future__ import annotations

from pathlib import Path

from ponder.backends import is_hf_checkpoint
from ponder.errors import UserError, read_json
from ponder.rewards.base import AGGREGATORS, RewardModel, aggregate, kind_loader, register_kind
from ponder.rewards.oracle import OracleReward

WEIGHTS = Path(__file__).resolve().parent.parent / "weights"
SHIPPED = {"orm": "orm", "prm": "prm", "genrm": "genrm", "genrm-cot": "genrm", "critic": "critic"}
"""Reward names and the shipped model directory (under ``ponder/weights``) each loads."""

TASK_WEIGHTS = {"game24": {"genrm": "genrm-game24"}}
"""Shipped directories a task loads in place of those in ``SHIPPED``, by task name: where a model
trained on that task's texts judged them better on its validation split (docs/results.md). The
Game of 24 judge learned both tasks but checks Countdown answers less well than the first one."""

__all__ = ["AGGREGATORS", "OracleReward", "RewardModel", "aggregate", "get_reward", "reward_names"]


def _value_model(path: Path, mode: str, **options) -> RewardModel:
    from ponder.rewards.value import ValueReward  # torch and the engine: imported when a model is loaded

    return ValueReward.load(path, name=mode, **options)


def _judge_model(path: Path, mode: str, **options) -> RewardModel:
    from ponder.rewards.generative import JudgeReward

    return JudgeReward.load(path, mode=mode, **options)


for _kind, _loader in (("orm", _value_model), ("prm", _value_model), ("genrm", _judge_model), ("critic", _judge_model)):
    register_kind(_kind, _loader)


def reward_names() -> list[str]:
    return ["oracle", *SHIPPED]


def shipped_dir(name: str, task=None) -> str:
    """The directory under ``ponder/weights`` that the shipped reward ``name`` loads for ``task`` (a
    task or its name; None: any task)."""
    kind = SHIPPED[name]
    task_name = task if task is None or isinstance(task, str) else task.name
    return TASK_WEIGHTS.get(task_name or "", {}).get(kind, kind)


def get_reward(name: str, task=None, **options) -> RewardModel:
    """A reward model by name (``oracle``, ``orm``, ``prm``, ``genrm``, ``genrm-cot``, ``critic``)
    or by the path of a model directory that ``ponder train rm`` wrote. A name may carry a path:
    ``genrm-cot=runs/genrm/model`` asks a GenRM model for chains of thought. A shipped name loads
    the model its task reads (``TASK_WEIGHTS``). A Hugging Face classification checkpoint
    (``hf:DIR``, or a directory with config.json and no ponder.json) is read by ``ponder.rewards.hf``."""
    if name == "oracle":
        return OracleReward(task, **options)
    if name.startswith("hf:") or is_hf_checkpoint(Path(name)):
        from ponder.rewards import hf

        return hf.load(name, **options)
    mode, _, where = name.partition("=")
    if where:
        path = Path(where)
    elif mode in SHIPPED:
        path = WEIGHTS / shipped_dir(mode, task)
    else:
        path, mode = Path(name), ""
    if not (path / "ponder.json").is_file():
        if not where and name not in SHIPPED and not path.exists():
            raise UserError(f"unknown reward {name!r}; choose one of: {', '.join(reward_names())} (or a model directory)")
        raise UserError(f"no reward model at {path}")
    kind = read_json(path / "ponder.json", "a ponder model description").get("meta", {}).get("reward_kind")
    loader = kind_loader(kind)
    if loader is None:
        raise UserError(f"{path} is not a reward model (it records no reward kind); train one with: ponder train rm")
    return loader(path, mode or kind, **options)

