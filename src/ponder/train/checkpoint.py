"""Training checkpoints that survive a crash: written to a temporary directory, then renamed.

A checkpoint holds everything needed to continue exactly: the weights, the optimizer state, the
RNG states and the trainer's own state (step, data position, ...). ``ponder.model.save_model``
writes the inference-only model directory; this module writes the training state around it.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import tempfile
import threading
from pathlib import Path

import numpy as np
import torch

from ponder.model.io import load_model, save_model

STATE = "trainer.json"
OPTIMIZER = "optimizer.pt"
RNG = "rng.pt"


def save_checkpoint(path: str | Path, model, tokenizer, optimizer, state: dict, meta: dict | None = None,
                    files: dict[str, str] | None = None) -> None:
    """Write the checkpoint; ``files`` are more of the trainer's own (name -> text, e.g. a replay
    buffer), written into the same directory so they are swapped in with the rest or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    save_model(tmp / "model", model, tokenizer, meta)
    torch.save(optimizer.state_dict(), tmp / OPTIMIZER)
    torch.save({"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}, tmp / RNG)
    (tmp / STATE).write_text(json.dumps(state, indent=1))
    for name, text in (files or {}).items():
        (tmp / name).write_text(text)
    for f in tmp.rglob("*"):
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
    old = path.with_name(f".{path.name}.old")
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


def has_checkpoint(path: str | Path) -> bool:
    return (Path(path) / STATE).is_file()


def load_checkpoint(path: str | Path, optimizer_factory):
    """Returns (model, tokenizer, optimizer, state). ``optimizer_factory(model)`` builds the optimizer."""
    path = Path(path)
    model, tokenizer, _ = load_model(path / "model")
    model.train()
    optimizer = optimizer_factory(model)
    optimizer.load_state_dict(torch.load(path / OPTIMIZER, weights_only=False))
    rng = torch.load(path / RNG, weights_only=False)
    torch.set_rng_state(rng["torch"])
    random.setstate(rng["python"])
    np.random.set_state(rng["numpy"])
    return model, tokenizer, optimizer, json.loads((path / STATE).read_text())


class StopRequests:
    """Turns Ctrl-C (SIGINT) and SIGTERM into a request that the trainer honours between steps,
    so the checkpoint it then writes is never of a half-done step. A second Ctrl-C stops at once.

        with StopRequests() as stop:
            while training:
                ...one step...
                if stop.requested:
                    save; raise KeyboardInterrupt
    """

    SIGNALS = ("SIGINT", "SIGTERM")

    def __init__(self) -> None:
        self.requested = False
        self.forced = False
        """A second Ctrl-C broke off a step: the state is half-updated and must not be saved."""
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        if self.requested and signum == signal.SIGINT:
            self.forced = True
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> "StopRequests":
        if threading.current_thread() is threading.main_thread():  # handlers can only be set there
            for name in self.SIGNALS:
                sig = getattr(signal, name)
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
