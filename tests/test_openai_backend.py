"""The openai backend against a stub OpenAI-compatible server that runs the shipped nano policy:
the same completions as nano itself, n emulated, retries, timeouts, bounded concurrency, usage,
logprobs, and the CLI end to end."""

import json
import math
import random
import sys
import time
from email.utils import formatdate
from pathlib import Path

import pytest
from conftest import free_port, run_ponder

from ponder.backends import load_policy
from ponder.backends.openai import (CHARS_PER_TOKEN, OpenAIConfig, OpenAIPolicy, backoff_delay, load, parse_choice,
                                   request_seed, share)
from ponder.errors import UserError
from ponder.jsonhttp import parse_retry_after
from ponder.search import get_strategy
from ponder.tasks import get_task
from ponder.types import SamplingParams, Usage

sys.path.insert(0, str(Path(__file__).parent))
from openai_stub import Stub, nano_generate, shared_policy  # noqa: E402

pytestmark = pytest.mark.shipped("nano-v2")

TASK = get_task("countdown-3")
PROBLEMS = TASK.problems("test", 3, seed=0)
PROMPTS = [TASK.prompt(p) for p in PROBLEMS]


def policy(stub: Stub, **options) -> OpenAIPolicy:
    """A checked policy on the stub; fast retries unless told otherwise."""
    options.setdefault("backoff", 0.01)
    return OpenAIPolicy(OpenAIConfig("nano", stub.url, **options)).check()


# --------------------------------------------------------------------------- same completions as nano


@pytest.mark.parametrize("api", ["completions", "chat"])
def test_greedy_completions_equal_nanos_own(api):
    params = SamplingParams(temperature=0.0, max_tokens=40, stop=("\n",), logprobs=True)
    expected = nano_generate(PROMPTS, params)
    with Stub() as stub:
        got = policy(stub, api=api).generate(PROMPTS, params)
    assert stub.generations == len(PROMPTS)
    for [g], [e] in zip(got, expected):
        assert (g.text, g.finish_reason, g.stop) == (e.text, e.finish_reason, e.stop)
        assert len(g.token_ids) == len(e.token_ids)
        assert g.logprobs == pytest.approx(e.logprobs, abs=1e-5)
    assert any(g.stop == "\n" for [g] in got)  # vLLM-style stop_reason read back


def test_logprobs_only_when_asked_and_given():
    with Stub() as stub:
        [[plain]] = policy(stub).generate(PROMPTS[:1], SamplingParams(temperature=0.0, max_tokens=4))
    with Stub(bare=True) as stub:
        [[bare]] = policy(stub).generate(PROMPTS[:1], SamplingParams(temperature=0.0, max_tokens=4, logprobs=True))
    assert plain.logprobs is None and bare.logprobs is None


# --------------------------------------------------------------------------- n, usage, tokens


def test_n_is_emulated_when_the_provider_ignores_it():
    params = SamplingParams(n=4, temperature=1.0, max_tokens=8, seed=3)
    with Stub(ignore_n=True) as stub:
        p = policy(stub)
        [first] = p.generate(PROMPTS[:1], params)
        assert len(first) == 4 and stub.generations == 4 and p.n_supported is False
        seeds = [b["seed"] for b in stub.bodies]
        assert seeds[0] == 3 and len(set(seeds)) == 4
        usage = Usage().add_completions(first)  # every request's prompt is charged
        assert usage.prompt_tokens == sum(u["prompt_tokens"] for u in stub.usages)
        assert usage.completion_tokens == sum(u["completion_tokens"] for u in stub.usages)
        [again] = p.generate(PROMPTS[:1], params)  # now known: n requests of one, side by side
    assert len(again) == 4 and stub.generations == 8 and all(b["n"] == 1 for b in stub.bodies[4:])
    assert [c.text for c in again] == [c.text for c in first]  # the same seeds


def test_usage_is_what_the_server_reported():
    params = [SamplingParams(n=3, temperature=1.0, max_tokens=12, seed=1),
              SamplingParams(temperature=0.0, max_tokens=5)]
    with Stub() as stub:
        out = policy(stub).generate(PROMPTS[:2], params)
    assert [len(row) for row in out] == [3, 1] and stub.generations == 2  # n served natively
    reported = sorted((u["prompt_tokens"], u["prompt_tokens_details"]["cached_tokens"], u["completion_tokens"])
                      for u in stub.usages)
    got = sorted((row[0].prompt_tokens, row[0].cached_tokens, sum(len(c.token_ids) for c in row)) for row in out)
    assert got == reported
    assert all(set(c.token_ids) == {0} for row in out for c in row)  # placeholders: no ids over HTTP


def test_counts_without_usage_or_tokenizer_are_estimates():
    with Stub(bare=True, tokenize=False) as stub:
        p = policy(stub)
        [[c]] = p.generate(PROMPTS[:1], SamplingParams(temperature=0.0, max_tokens=6))
        assert c.prompt_tokens == math.ceil(len(PROMPTS[0]) / CHARS_PER_TOKEN)
        assert len(c.token_ids) == math.ceil(len(c.text) / CHARS_PER_TOKEN) and c.stop is None
        p.count_tokens("1 2 3")
    assert stub.calls["/tokenize"] == 1  # tried once, then estimates


def test_count_tokens_asks_the_servers_tokenizer_once_per_text():
    with Stub() as stub:
        p = policy(stub)
        counts = [p.count_tokens(t) for t in PROMPTS + PROMPTS]
    assert counts == [shared_policy().count_tokens(t) for t in PROMPTS + PROMPTS]
    assert stub.calls["/tokenize"] == len(PROMPTS) and p.max_context == shared_policy().max_context


def test_api_key_is_sent_from_the_named_variable(monkeypatch):
    monkeypatch.setenv("STUB_KEY", "sk-test")
    with Stub() as stub:
        policy(stub, api_key_env="STUB_KEY").generate(PROMPTS[:1], SamplingParams(max_tokens=1))
    assert set(stub.keys) == {"Bearer sk-test"}


# --------------------------------------------------------------------------- failures


@pytest.mark.parametrize("status", [429, 500])
def test_transient_failures_are_retried(status):
    with Stub(fail=2, fail_status=status) as stub:
        [[c]] = policy(stub).generate(PROMPTS[:1], SamplingParams(temperature=0.0, max_tokens=4))
    assert c.text and stub.generations == 3


def test_retries_give_up_with_the_servers_message():
    with Stub(fail=10, fail_status=503) as stub:
        with pytest.raises(UserError, match=r"HTTP 503: injected failure 3 \(after 3 attempts\)"):
            policy(stub, max_retries=2).generate(PROMPTS[:1], SamplingParams(max_tokens=4))
    assert stub.generations == 3


def test_a_refusal_is_a_user_error_and_not_retried():
    with Stub() as stub:
        with pytest.raises(UserError, match="HTTP 400: This model's maximum context length is"):
            policy(stub).generate(PROMPTS[:1], SamplingParams(max_tokens=5000))
    assert stub.generations == 1


def test_a_timeout_is_retried():
    with Stub(delay=2.0, delay_first=1) as stub:
        [[c]] = policy(stub, timeout=0.5).generate(PROMPTS[:1], SamplingParams(temperature=0.0, max_tokens=4))
    assert c.text and stub.generations == 2


def test_requests_in_flight_never_exceed_max_concurrency():
    with Stub(delay=0.3) as stub:
        out = policy(stub, max_concurrency=3).generate(PROMPTS * 3, SamplingParams(temperature=0.0, max_tokens=1))
    assert len(out) == 9 and stub.generations == 9
    assert 2 <= stub.max_in_flight <= 3


def test_load_reports_what_is_wrong(monkeypatch):
    for spec in (None, "", "@http://127.0.0.1:1/v1", "nano@127.0.0.1:8000"):
        with pytest.raises(UserError, match="openai:MODEL@BASE_URL"):
            load(spec)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(UserError, match="OPENAI_BASE_URL"):
        load("nano")
    monkeypatch.setenv("PONDER_OPENAI_API", "grpc")
    with pytest.raises(UserError, match="api must be"):
        load("nano@http://127.0.0.1:1/v1")
    monkeypatch.delenv("PONDER_OPENAI_API")
    with Stub() as stub:
        with pytest.raises(UserError, match="unknown model 'gpt-9' .* it serves: nano"):
            load(f"gpt-9@{stub.url}")
        monkeypatch.setenv("OPENAI_BASE_URL", stub.url)
        monkeypatch.setenv("PONDER_OPENAI_API", "chat")
        p = load_policy("openai:nano")
    assert isinstance(p, OpenAIPolicy) and p.cfg.api == "chat" and p.cfg.base_url == stub.url


# --------------------------------------------------------------------------- strategies and the CLI


def test_majority_vote_runs_through_the_backend():
    with Stub(ignore_n=True) as stub:
        result = get_strategy("majority", n=4)(PROBLEMS[0], policy(stub), seed=1, task=TASK)
    assert len(result.candidates) == 4 and stub.generations == 4
    assert result.usage.completion_tokens == sum(u["completion_tokens"] for u in stub.usages)
    assert result.usage.prompt_tokens == sum(u["prompt_tokens"] for u in stub.usages)


class SerialNano:
    """The shared nano policy, called the way the stub calls it."""

    def __init__(self):
        nano = shared_policy()
        self.name, self.max_context, self.count_tokens = nano.name, nano.max_context, nano.count_tokens
        self.generate = nano_generate


def test_cli_eval_through_the_backend_equals_nano(tmp_path):
    expected = get_strategy("greedy").run(PROBLEMS, SerialNano(), task=TASK)
    with Stub() as stub:
        proc = run_ponder("eval", "--model", f"openai:nano@{stub.url}", "--task", "countdown-3", "--limit", "3",
                          "--json", "--output", str(tmp_path / "out.jsonl"), timeout=120)
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [p.id for p in PROBLEMS]
    assert [r["answer"] for r in rows] == [r.answer for r in expected]
    assert summary["accuracy"] == pytest.approx(sum(TASK.check(p, r.answer) for p, r in zip(PROBLEMS, expected)) / 3)


def test_cli_unreachable_server_is_one_line_and_exit_2():
    proc = run_ponder("eval", "--model", f"openai:nano@http://127.0.0.1:{free_port()}/v1", "--limit", "1",
                      env={"PONDER_OPENAI_MAX_RETRIES": "1", "PONDER_OPENAI_BACKOFF": "0.01"}, check=False, timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("ponder: error: cannot reach") and "(after 2 attempts)" in lines[0]


# --------------------------------------------------------------------------- pure helpers


def test_backoff_doubles_with_jitter_caps_and_honours_retry_after():
    rng = random.Random(0)
    for attempt in range(8):
        full = min(4.0, 0.5 * 2 ** attempt)
        assert full / 2 <= backoff_delay(attempt, 0.5, 4.0, None, rng) <= full
    assert backoff_delay(5, 0.5, 8.0, 7.0, rng) == 7.0 and backoff_delay(0, 0.5, 4.0, 3600.0, rng) == 4.0


def test_retry_after_reads_seconds_and_dates():
    now = time.time()
    assert parse_retry_after("3") == 3.0 and parse_retry_after("-1") == 0.0
    assert parse_retry_after(formatdate(now + 10, usegmt=True), now=now) == pytest.approx(10, abs=1)
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None


def test_choices_say_which_stop_ended_them_only_when_the_server_does():
    stops = ("\n", "answer:")
    assert parse_choice({"text": "a", "finish_reason": "stop", "stop_reason": "\n"}, "completions", stops).stop == "\n"
    sglang = {"message": {"content": "b"}, "finish_reason": "stop", "matched_stop": "answer:"}
    assert parse_choice(sglang, "chat", stops).stop == "answer:"
    for said in (None, 2, "elsewhere"):  # end of text, a stop token's id, a string not asked for
        choice = {"text": "c", "finish_reason": "stop", "stop_reason": said}
        assert parse_choice(choice, "completions", stops).stop is None
    cut = parse_choice({"message": {"content": None}, "finish_reason": "length", "stop_reason": "\n"}, "chat", stops)
    assert (cut.text, cut.finish_reason, cut.stop, cut.logprobs) == ("", "length", None, None)


def test_an_upstream_reasoning_models_thinking_is_kept_and_counted():
    for field in ("reasoning_content", "reasoning"):
        choice = {"message": {"content": "42", field: "Six sevens are forty-two."}, "finish_reason": "stop"}
        assert parse_choice(choice, "chat", ()).reasoning == "Six sevens are forty-two."
    assert parse_choice({"message": {"content": "42"}, "finish_reason": "stop"}, "chat", ()).reasoning == ""
    policy = OpenAIPolicy(OpenAIConfig(model="m", base_url="http://127.0.0.1:9/v1", api="chat"))
    data = {"choices": [{"index": 0, "message": {"content": "42", "reasoning_content": "x" * 97}, "finish_reason": "stop"},
                        {"index": 1, "message": {"content": "41"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 103}}
    [thought, plain], _, _ = policy._read("q", SamplingParams(n=2), data)
    assert (thought.text, thought.reasoning) == ("42", "x" * 97) and plain.reasoning == ""
    assert (len(thought.token_ids), len(plain.token_ids)) == (100, 3)  # the server's total, shared by length


def test_shares_sum_to_the_total_and_seeds_differ():
    for total, weights in [(10, [1, 1, 1]), (7, [5, 0, 2]), (3, [0, 0]), (0, [4, 1])]:
        parts = share(total, weights)
        assert sum(parts) == total and len(parts) == len(weights)
    assert share(10, [3, 1, 1]) == [6, 2, 2]
    assert request_seed(None, 3) is None and request_seed(7, 0) == 7
    assert len({request_seed(7, r) for r in range(50)} | {7 + r for r in range(1, 50)}) == 99
