"""Training checkpoints that survive a crash at any instant.

A checkpoint holds everything needed to continue exactly: the weights, the optimizer state, the
RNG states and the trainer's own state (step, data position, ...). ``ponder.model.save_model``
writes the inference-only model directory; this module writes the training state around it.

The checkpoint ``out/checkpoint`` is a link to the newest of the numbered checkpoints in
``out/checkpoints/``. Saving writes a temporary directory, renames it to the next number (a
numbered checkpoint is complete or absent: the rename is atomic), then replaces the link (atomic
too), then prunes older numbers and temporary directories a crash left. Whatever instant a crash
hits, ``find_checkpoint`` finds a complete checkpoint: the link's, or else the newest number.
Nothing is unpickled on load: tensors and plain data only (``weights_only``), so a run directory
from elsewhere cannot run code.
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

from ponder.errors import UserError
from ponder.model.io import load_model, save_model

STATE = "trainer.json"
OPTIMIZER = "optimizer.pt"
RNG = "rng.pt"
KEEP = 2
"""Numbered checkpoints kept: the newest and the one before (a spare)."""


def store_of(path: Path) -> Path:
    """Where the numbered checkpoints behind the link ``path`` live (``checkpoint`` -> ``checkpoints``)."""
    return path.with_name(path.name + "s")


def save_checkpoint(path: str | Path, model, tokenizer, optimizer, state: dict, meta: dict | None = None,
                    files: dict[str, str] | None = None) -> None:
    """Write the checkpoint; ``files`` are more of the trainer's own (name -> text, e.g. a replay
    buffer), written into the same directory so they come back with the rest or not at all."""
    path = Path(path)
    store = store_of(path)
    store.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=store, prefix=".tmp-"))
    save_model(tmp / "model", model, tokenizer, meta)
    torch.save(optimizer.state_dict(), tmp / OPTIMIZER)
    numpy_state = np.random.get_state()
    torch.save({"torch": torch.get_rng_state(), "python": random.getstate(),
                "numpy": (numpy_state[0], torch.from_numpy(numpy_state[1].astype(np.int64)), *numpy_state[2:])},
               tmp / RNG)
    (tmp / STATE).write_text(json.dumps(state, indent=1))
    for name, text in (files or {}).items():
        (tmp / name).write_text(text)
    for f in tmp.rglob("*"):
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
    number = max(numbered(store), default=0) + 1
    final = store / f"{number:06d}"
    os.replace(tmp, final)
    if path.is_dir() and not path.is_symlink():  # the layout before numbers: moved aside whole, then removed
        os.replace(path, store / ".tmp-unnumbered")
    link = store / f".link-{number}"
    link.symlink_to(Path(store.name) / final.name)
    os.replace(link, path)
    sync_dir(store)
    for old in sorted(numbered(store))[:-KEEP]:
        shutil.rmtree(store / f"{old:06d}", ignore_errors=True)
    clean_temporaries(store)


def numbered(store: Path) -> list[int]:
    """The numbers of the complete checkpoints in ``store``."""
    return [int(p.name) for p in store.iterdir() if p.name.isdigit() and (p / STATE).is_file()] if store.is_dir() else []


def clean_temporaries(store: Path) -> None:
    """Remove what a crash in the middle of a save or a prune left in ``store``: temporary
    directories and links, and numbered directories half deleted (a complete one is never touched)."""
    if not store.is_dir():
        return
    for p in store.iterdir():
        if p.is_symlink() or p.is_file():
            if p.name.startswith(".link-"):
                p.unlink(missing_ok=True)
        elif p.name.startswith(".tmp-") or (p.name.isdigit() and not (p / STATE).is_file()):
            shutil.rmtree(p, ignore_errors=True)


def sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def find_checkpoint(path: str | Path) -> Path | None:
    """The complete checkpoint ``path`` names: where its link points, or (a crash between the
    rename and the link) the newest numbered one; None when there is none."""
    path = Path(path)
    if (path / STATE).is_file():
        return path
    numbers = numbered(store_of(path))
    return store_of(path) / f"{max(numbers):06d}" if numbers else None


def has_checkpoint(path: str | Path) -> bool:
    return find_checkpoint(path) is not None


def load_checkpoint(path: str | Path, optimizer_factory):
    """Returns (model, tokenizer, optimizer, state). ``optimizer_factory(model)`` builds the optimizer."""
    found = find_checkpoint(path)
    if found is None:
        raise UserError(f"nothing to resume: no checkpoint in {path}")
    model, tokenizer, _ = load_model(found / "model")
    model.train()
    optimizer = optimizer_factory(model)
    try:
        optimizer.load_state_dict(torch.load(found / OPTIMIZER, weights_only=True))
        rng = torch.load(found / RNG, weights_only=True)
    except Exception as e:  # a corrupt file, or one holding more than tensors and plain data
        raise UserError(f"{found} holds an optimizer or RNG state ponder cannot read safely ({str(e)[:200]})") from None
    torch.set_rng_state(rng["torch"])
    random.setstate(rng["python"])
    name, keys, *rest = rng["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    return model, tokenizer, optimizer, json.loads((found / STATE).read_text())


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
