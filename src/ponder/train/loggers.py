"""Where a training run's metrics go besides ``metrics.jsonl``: TensorBoard and Weights & Biases.

    ponder train grpo --out runs/grpo --log-to tensorboard,wandb
    PONDER_LOG_TO=tensorboard ponder train sft ...          # the same, from the environment

Every row ``Run.log`` writes goes to each sink as well, its numbers under the same keys as in
``metrics.jsonl`` (``train/loss``, ``eval/countdown/accuracy``, ``time/elapsed_s``) at the row's
``step``. TensorBoard writes event files to ``OUT/tensorboard`` (``tensorboard --logdir OUT``);
Weights & Biases logs to the project ``$WANDB_PROJECT`` (default ``ponder``) as a run named after
the directory, with the config, and resumes that run when the training resumes (its id is kept in
``OUT/wandb-id``); ``WANDB_MODE=offline`` keeps it on disk. A resumed run redoes the steps after its
checkpoint: TensorBoard drops what it had logged past that step, and W&B, which takes steps only
in order, keeps what it had (an exact resume logs the same values). Both are optional extras
(``pip install -e ".[tensorboard]"``, ``".[wandb]"``), imported only when asked for. The tests read
TensorBoard's event files back; W&B they check against a stand-in module (with no W&B server here,
and offline files that only W&B's service reads).
"""

from __future__ import annotations

import os
import uuid
from numbers import Real
from pathlib import Path

from ponder.errors import UserError

SINKS = ("tensorboard", "wandb")
ENV = "PONDER_LOG_TO"


def sink_names(text: str | None) -> list[str]:
    """The sinks a ``--log-to`` / ``$PONDER_LOG_TO`` value names (comma-separated; "" for none)."""
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    unknown = [n for n in names if n not in SINKS]
    if unknown:
        raise UserError(f"unknown metrics sink {unknown[0]!r}; choose from: {', '.join(SINKS)}")
    return list(dict.fromkeys(names))


def numbers(row: dict) -> dict[str, float]:
    """The row's numeric values (not its step; booleans and text are left to metrics.jsonl)."""
    return {k: float(v) for k, v in row.items() if k != "step" and isinstance(v, Real) and not isinstance(v, bool)}


class TensorBoardSink:
    def __init__(self, out: Path, resume_step: int | None):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UserError('--log-to tensorboard needs TensorBoard: pip install -e ".[tensorboard]"') from None
        # purge_step: events of the steps a resumed run redoes are dropped, not drawn twice
        self.writer = SummaryWriter(log_dir=str(out / "tensorboard"), purge_step=resume_step)

    def write(self, row: dict, step: int) -> None:
        for key, value in numbers(row).items():
            self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandbSink:
    def __init__(self, out: Path, config: dict, resume: bool):
        try:
            import wandb
        except ImportError:
            raise UserError('--log-to wandb needs Weights & Biases: pip install -e ".[wandb]"') from None
        marker = out / "wandb-id"
        if resume and marker.is_file():
            run_id = marker.read_text().strip()
        else:
            run_id = uuid.uuid4().hex[:12]
            marker.write_text(run_id + "\n")
        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "ponder"), name=out.name, id=run_id,
                              resume="allow", config=config, dir=str(out))

    def write(self, row: dict, step: int) -> None:
        if step >= self.run.step:  # W&B takes steps in order: a redone step is already there
            self.run.log(numbers(row), step=step)

    def close(self) -> None:
        self.run.finish()


def open_sinks(names: list[str], out: Path, config: dict, resume: bool, resume_step: int | None) -> list:
    """The sinks ``names`` asks for, opened for the run in ``out``."""
    made = []
    for name in names:
        made.append(TensorBoardSink(out, resume_step) if name == "tensorboard" else WandbSink(out, config, resume))
    return made
