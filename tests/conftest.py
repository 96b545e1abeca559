"""Fixtures and helpers shared by the tests: a tiny model, the shipped weights a test needs, and the
``ponder`` command run as a user runs it."""

import importlib
import os
import socket
import subprocess
import sys

import pytest
import torch

from ponder.backends.nano import WEIGHTS
from ponder.model import ModelConfig, Transformer
from ponder.train.vocab import nano_tokenizer

# --------------------------------------------------------------------------- what a test needs installed


def in_ci() -> bool:
    """Whether this run is CI's (.ci/run runs with CI=true): there, nothing a test needs may be missing."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing(reason: str):
    """A test cannot run because something is not installed: under CI that is a packaging or installation
    mistake, so the test fails; elsewhere (a checkout without the weights, say) it skips, saying why."""
    if in_ci():
        pytest.fail(f"{reason} (under CI this fails instead of skipping)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def needs_shipped(*names: str) -> None:
    """Skip (locally) or fail (under CI) unless the shipped weights ``src/ponder/weights/<name>`` are all there."""
    absent = [str(WEIGHTS / name / f) for name in names for f in ("model.safetensors", "ponder.json")
              if not (WEIGHTS / name / f).is_file()]
    if absent:
        missing("shipped weights missing: " + ", ".join(absent))


def needs_module(name: str, hint: str = "pip install -e '.[dev]'"):
    """``pytest.importorskip`` that fails under CI, where .ci/run installs every dev dependency."""
    try:
        return importlib.import_module(name)
    except ImportError as e:
        error = e  # reported outside the handler: the ImportError's traceback says nothing more
    missing(f"{name} is not installed ({hint}): {error}")


def pytest_configure(config):
    config.addinivalue_line("markers", "shipped(*names): the test needs these shipped weights (see needs_shipped)")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    # before any fixture, so that a module fixture loading the weights never runs without them
    for mark in item.iter_markers("shipped"):
        needs_shipped(*mark.args)


# --------------------------------------------------------------------------- the command


PONDER = [sys.executable, "-m", "ponder.cli"]
"""The ``ponder`` command, run with this interpreter."""


def ponder_env(env: dict | None = None) -> dict:
    """This process's environment, unbuffered, with ``env`` laid over it (a value of None removes a variable)."""
    merged = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return {k: v for k, v in merged.items() if v is not None}


def run_ponder(*args, check: bool = True, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``ponder *args`` in a subprocess, stdout and stderr captured as text. With ``check``, a non-zero exit
    is an AssertionError that shows stderr."""
    proc = subprocess.run([*PONDER, *map(str, args)], capture_output=True, text=True, env=ponder_env(env),
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"ponder {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def free_port() -> int:
    """A loopback port nobody listens on (yet)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- models


@pytest.fixture(scope="session")
def tokenizer():
    return nano_tokenizer()


@pytest.fixture
def tiny_model(tokenizer):
    """A small random model: enough to test the machinery, not to solve anything."""
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=len(tokenizer), d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=64, max_seq_len=256)
    return Transformer(cfg).eval()


def assert_same_parameters(path_a, path_b) -> None:
    """The models saved in two directories have bit-identical parameters (exact resume)."""
    from ponder.model import load_model

    a, _, _ = load_model(path_a)
    b, _, _ = load_model(path_b)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name


def assert_resumes_exactly(train, config_of, tmp_path, stop_after: int) -> None:
    """A run "killed" after ``stop_after`` steps refuses to start anew in its directory and, resumed,
    ends with the parameters of a run that never stopped. ``config_of(out)`` is the run's config."""
    from ponder.errors import UserError

    whole = train(config_of(tmp_path / "a"), progress=False)
    train(config_of(tmp_path / "b"), progress=False, stop_after=stop_after)
    with pytest.raises(UserError, match="already holds a run"):
        train(config_of(tmp_path / "b"), progress=False)
    resumed = train(config_of(tmp_path / "b"), resume=True, progress=False)
    assert_same_parameters(whole, resumed)
    assert metric_steps(tmp_path / "b") == metric_steps(tmp_path / "a")  # the redone steps' rows once


def metric_steps(run) -> list:
    """The ``step`` of every row of a run's metrics, in order."""
    import json

    return [json.loads(line).get("step") for line in (run / "metrics.jsonl").read_text().splitlines()]
