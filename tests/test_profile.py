"""``ponder profile``: the least-squares line on literal and synthetic data, then the command end to
end against the stub OpenAI-compatible server (tests/openai_stub.py, the shipped nano policy)."""

import json
import random
import sys
from pathlib import Path

import pytest
from conftest import free_port, run_ponder

from ponder.profile import Fit, fit_line, tokens_per_second

sys.path.insert(0, str(Path(__file__).parent))
from openai_stub import Stub  # noqa: E402

needs_model = pytest.mark.shipped("nano-v2")


# --------------------------------------------------------------------------- the fit


def test_fit_exact_line():
    fit = fit_line([8, 32, 64, 128], [0.05 + 0.004 * x for x in (8, 32, 64, 128)])
    assert fit.slope == pytest.approx(0.004) and fit.intercept == pytest.approx(0.05) and fit.r2 == pytest.approx(1.0)
    assert tokens_per_second(fit) == pytest.approx(250.0)


def test_fit_by_hand():
    # mean x 1.5, mean y 2.5; Sxy = 4, Sxx = 5: slope 0.8, intercept 1.3; residuals -0.3 0.9 -0.9 0.3: R² = 1 - 1.8/5
    fit = fit_line([0, 1, 2, 3], [1, 3, 2, 4])
    assert (fit.slope, fit.intercept, fit.r2) == pytest.approx((0.8, 1.3, 0.64))


def test_fit_noisy_recovers_the_line():
    rng = random.Random(0)
    xs = [x for x in (8, 32, 64, 128, 256) for _ in range(5)]
    ys = [0.1 + 0.005 * x + rng.gauss(0, 0.02) for x in xs]
    fit = fit_line(xs, ys)
    assert fit.slope == pytest.approx(0.005, rel=0.05) and fit.intercept == pytest.approx(0.1, abs=0.02)
    assert 0.95 < fit.r2 < 1.0
    unrelated = fit_line(xs, [rng.gauss(1, 0.1) for _ in xs])  # latency that does not depend on tokens
    assert 0.0 <= unrelated.r2 < 0.3


def test_fit_needs_two_distinct_xs_and_no_speed_from_a_flat_slope():
    with pytest.raises(ValueError):
        fit_line([16, 16, 16], [1.0, 1.1, 0.9])
    with pytest.raises(ValueError):
        fit_line([1, 2], [1.0])
    assert fit_line([1, 2, 3], [2.0, 2.0, 2.0]) == Fit(0.0, 2.0, 1.0)
    assert tokens_per_second(Fit(-0.001, 0.5, 0.1)) is None


# --------------------------------------------------------------------------- the command


def profile(*args):
    """``ponder profile *args``, without this environment's OPENAI_API_KEY."""
    return run_ponder("profile", *args, check=False, env={"OPENAI_API_KEY": None}, timeout=120)


@needs_model
@pytest.mark.parametrize("api", ["completions", "chat"])
def test_profile_against_the_stub(api):
    with Stub() as stub:
        proc = profile("--base-url", stub.url, "--model", "nano", "--api", api, "--lengths", "8,24,48",
                      "--repeats", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert stub.calls["/v1/models"] == 1 and stub.generations == 1 + 6  # a warm-up, then 3 lengths x 2
    assert [s["max_tokens"] for s in out["samples"]] == [8, 24, 48] * 2
    assert [s["completion_tokens"] for s in out["samples"]] == [u["completion_tokens"] for u in stub.usages[1:]]
    assert all(0 < s["completion_tokens"] <= s["max_tokens"] for s in out["samples"])
    assert all(b["temperature"] == 0 for b in stub.bodies)
    assert out["s_per_token"] > 0 and out["tokens_per_s"] > 0 and 0.0 <= out["r2"] <= 1.0


@needs_model
def test_profile_prints_a_table_and_the_fit_and_sends_the_key():
    with Stub() as stub:
        proc = profile("--base-url", stub.url + "/", "--model", "nano", "--lengths", "4,16", "--repeats", "1",
                      "--api-key", "sk-test")
    assert proc.returncode == 0, proc.stderr
    assert stub.keys == ["Bearer sk-test"] * 4  # /models, the warm-up, 2 timed
    lines = proc.stdout.strip().splitlines()
    assert lines[0].split() == ["max_tokens", "completion", "tokens", "latency", "s"] and len(lines) == 4
    assert [line.split()[0] for line in lines[1:3]] == ["4", "16"]
    assert lines[-1].startswith("decode: ") and "fixed latency" in lines[-1] and "R² " in lines[-1]


@needs_model
@pytest.mark.parametrize("case, expected", [
    ("unreachable", "cannot reach http://127.0.0.1:"),
    ("bad url", "--base-url must be an http:// or https:// URL"),
    ("unknown model", "unknown model 'gpt-9' at http://127.0.0.1:"),
    ("no usage", "returned no usage.completion_tokens"),
    ("one length", "--lengths needs at least two different values"),
])
def test_profile_errors_are_one_line_and_exit_2(case, expected):
    with Stub(bare=case == "no usage") as stub:
        args = {"unreachable": ["--base-url", f"http://127.0.0.1:{free_port()}/v1", "--model", "nano"],
                "bad url": ["--base-url", "localhost:8000/v1", "--model", "nano"],
                "unknown model": ["--base-url", stub.url, "--model", "gpt-9"],
                "no usage": ["--base-url", stub.url, "--model", "nano", "--lengths", "4,8"],
                "one length": ["--base-url", stub.url, "--model", "nano", "--lengths", "8,8"]}[case]
        proc = profile(*args)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("ponder: error: ") and expected in lines[0], lines[0]
