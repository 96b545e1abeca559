"""The reasoning API as today's clients speak it, against a real ``ponder serve`` on loopback.

OpenAI's reasoning guides, their examples that a reasoning model accepts, run unchanged but for the
model's name and the prompt (a puzzle; the guides ask for code or prose a nano model cannot write):

Responses API (``client.responses.create``)
  - reasoning effort, input as a message list, ``response.output_text``    test_guide_quickstart
  - ``reasoning={"summary": "auto"}``, summary parts on the reasoning item   test_guide_summaries
  - ``max_output_tokens``; ``status == "incomplete"`` and its reason          test_guide_max_output_tokens
  - ``usage.output_tokens_details.reasoning_tokens``                         test_guide_quickstart
  - ``store=False, include=["reasoning.encrypted_content"]``, the output items
    passed back as the next turn's input                                     test_guide_stateless_turns
  - ``instructions``                                                         test_guide_stateless_turns
  - ``stream=True``: the typed events, in order                              test_guide_streaming
Chat Completions
  - ``reasoning_effort`` (all six values), ``max_completion_tokens``,
    ``usage.completion_tokens_details.reasoning_tokens``, a developer message test_chat_six_efforts
Not run, refused with a 400 that says why: function calling (ponder's models call no tools),
``previous_response_id`` and ``store=True`` (ponder keeps no state), ``background``
(test_responses_refusals).

Also here: the thinking as ``reasoning`` / ``reasoning_content`` (plain and streamed), puzzles in
words and the model name's task, the solver's "no solution", keep-alive comments, ``/v1/completions``
with ``echo`` and prompt logprobs (and lm-evaluation-harness's ``local-completions`` against it),
the tokenizer routes, /metrics' histograms, /docs offline, LangChain and LiteLLM.
"""

import http.client
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from conftest import PONDER, needs_module
from test_serve import post, start, stop

openai = needs_module("openai")

KEY = "api-key"
PUZZLE = "Game of 24: 4 7 8 8"
SMALL = "4 6 10 -> 34"
"""A Countdown-3 puzzle (model ``nano-v2:countdown-3``): short chains, so votes of 8 cost little."""


@pytest.fixture(scope="module")
def server():
    proc, url = start("--api-key", KEY, "--keepalive", "0.5", "--max-active", "4")
    yield url
    stop(proc)


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server + "/v1", api_key=KEY, max_retries=0, timeout=300)


def get(url, path):
    request = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {KEY}"})
    with urllib.request.urlopen(request, timeout=60) as r:
        return r.read()


# --------------------------------------------------------------------------- the Responses API


def test_guide_quickstart(client):
    r = client.responses.create(model="nano-v2", reasoning={"effort": "low"}, input=[{"role": "user", "content": PUZZLE}])
    assert r.status == "completed" and [o.type for o in r.output] == ["reasoning", "message"]
    assert r.output_text == "8 * ((7 + 4) - 8)"  # greedy's answer, as ponder solve gives it
    assert r.usage.output_tokens_details.reasoning_tokens == r.usage.output_tokens > 0
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens
    assert r.output[0].summary == [] and r.model_extra["ponder"]["task"] == "game24"  # no summary asked for


def test_guide_summaries(client):
    concise = client.responses.create(model="nano-v2", input=PUZZLE, reasoning={"effort": "low", "summary": "concise"})
    [part] = concise.output[0].summary
    assert part.type == "summary_text" and part.text.startswith("Tried 8 steps")
    auto = client.responses.create(model="nano-v2:countdown-3", input=SMALL,
                                   reasoning={"effort": "medium", "summary": "auto"})
    search, summary = (p.text for p in auto.output[0].summary)
    assert search.startswith("Thinking with majority") and "votes" in search  # what the search did, line by line
    assert summary.startswith("Tried") and auto.reasoning.summary == "auto" and auto.reasoning.effort == "medium"
    full = client.responses.create(model="nano-v2", input=PUZZLE, extra_body={"include_reasoning": True})
    assert full.output[0].content[0].type == "reasoning_text"
    assert full.output[0].content[0].text.strip().endswith(full.output_text)


def test_guide_max_output_tokens(client):
    r = client.responses.create(model="nano-v2", input="Make 66 from 25, 3, 7 and 10", max_output_tokens=40,
                                reasoning={"effort": "low"})
    assert r.status == "incomplete" and r.incomplete_details.reason == "max_output_tokens"
    assert r.usage.output_tokens <= 40 and r.output_text == ""  # "ran out of tokens during reasoning"


def test_guide_stateless_turns(client):
    first = client.responses.create(model="nano-v2", input=[{"role": "user", "content": PUZZLE}], store=False,
                                    include=["reasoning.encrypted_content"], instructions="Answer with one expression.")
    assert first.output_text and first.instructions == "Answer with one expression." and first.store is False
    context = [{"role": "user", "content": PUZZLE}, *first.output, {"role": "user", "content": "Game of 24: 2 5 8 11"}]
    second = client.responses.create(model="nano-v2", input=context, store=False)
    assert second.model_extra["ponder"]["problem"]["numbers"] == [2, 5, 8, 11]  # the last user message is the problem


def test_guide_streaming(client):
    events = list(client.responses.create(model="nano-v2:countdown-3", input=SMALL, stream=True,
                                          reasoning={"effort": "medium", "summary": "auto"}))
    kinds = [e.type for e in events]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds[-1] == "response.completed" and [e.sequence_number for e in events] == list(range(len(events)))
    assert kinds.index("response.reasoning_summary_text.delta") < kinds.index("response.output_text.delta")
    assert max(i for i, k in enumerate(kinds) if k.startswith("response.reasoning")) < kinds.index("response.output_text.delta")
    done = events[-1].response
    for i, part in enumerate(done.output[0].summary):  # the deltas add up to the parts the response ends with
        streamed = "".join(e.delta for e in events if e.type == "response.reasoning_summary_text.delta"
                           and e.summary_index == i)
        assert streamed == part.text
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == done.output_text


@pytest.mark.parametrize("body,param", [
    ({"input": PUZZLE, "store": True}, "store"),
    ({"input": PUZZLE, "previous_response_id": "resp_1"}, "previous_response_id"),
    ({"input": PUZZLE, "background": True}, "background"),
    ({"input": PUZZLE, "tools": [{"type": "function", "name": "f", "parameters": {}}]}, "tools"),
    ({"input": PUZZLE, "reasoning": {"summary": "long"}}, "reasoning.summary"),
    ({"input": PUZZLE, "reasoning": {"effort": "maximal"}}, "reasoning.effort"),
    ({"input": PUZZLE, "max_output_tokens": 0}, "max_output_tokens"),
    ({"input": [{"type": "function_call_output", "output": "1"}]}, "input"),
    ({"input": "hello"}, "input"),
    ({"input": PUZZLE, "text": {"format": {"type": "json_object"}}}, "text.format"),
])
def test_responses_refusals(server, body, param):
    status, _, answer = post(server, "/v1/responses", body, key=KEY)
    assert status == 400 and answer["error"]["param"] == param and answer["error"]["message"]


# --------------------------------------------------------------------------- Chat Completions, today's conventions


def test_chat_six_efforts(client):
    seen = {}
    for effort in ("none", "minimal", "low", "medium", "high", "xhigh"):
        r = client.chat.completions.create(model="nano-v2", reasoning_effort=effort, max_completion_tokens=20000,
                                           messages=[{"role": "developer", "content": "Be brief."},
                                                     {"role": "user", "content": PUZZLE}])
        m = r.choices[0].message
        assert m.content and m.reasoning == m.reasoning_content == m.reasoning_summary
        details = r.usage.completion_tokens_details
        assert details.reasoning_tokens == r.usage.completion_tokens > 0
        seen[effort] = (r.model_extra["ponder"]["strategy"], details.reasoning_tokens)
    assert seen["none"][0] == seen["minimal"][0] == seen["low"][0] == "greedy"
    assert seen["none"][1] < seen["low"][1]  # the least thinking: one direct line
    assert seen["medium"][0] == "majority" and seen["high"][0] == seen["xhigh"][0] == "best-first"


def test_chat_reasoning_streamed_as_chat_uis_read_it(client):
    messages = [{"role": "user", "content": SMALL}]
    stream = client.chat.completions.create(model="nano-v2:countdown-3", messages=messages, stream=True,
                                            reasoning_effort="medium")
    reasoning, content, summary = [], [], []
    for c in stream:
        for choice in c.choices:
            extra = choice.delta.model_extra or {}
            reasoning.append(extra.get("reasoning_content") or "")
            summary.append(extra.get("reasoning_summary") or "")
            assert extra.get("reasoning") == extra.get("reasoning_content")
            content.append(choice.delta.content or "")
    assert "".join(reasoning) == "".join(summary) and "votes" in "".join(reasoning)
    whole = client.chat.completions.create(model="nano-v2:countdown-3", messages=messages, reasoning_effort="medium")
    assert "".join(content) == whole.choices[0].message.content != ""


def test_max_completion_tokens_caps_the_budget(client):
    r = client.chat.completions.create(model="nano-v2:countdown-3", messages=[{"role": "user", "content": SMALL}],
                                       max_completion_tokens=300, reasoning_effort="medium")
    assert r.model_extra["ponder"]["budget"] == 300 and r.usage.completion_tokens <= 300 + 200


# --------------------------------------------------------------------------- problems as people type them


@pytest.mark.parametrize("model,text,task,numbers,target", [
    ("nano-v2", "Use 4 9 10 13 and + - * / to make 24.", "countdown", [4, 9, 10, 13], 24),
    ("nano-v2", "Make 66 from 25, 3, 7 and 10", "countdown", [25, 3, 7, 10], 66),
    ("nano-v2", "Game of 24: 4 7 8 8", "game24", [4, 7, 8, 8], 24),
    ("nano-v2", "4 7 8 8", "game24", [4, 7, 8, 8], 24),
    ("nano-v2:game24", "Use 4 9 10 13 to make 24", "game24", [4, 9, 10, 13], 24),
    ("nano-v2", "What is 482 * 37?", "arith", [482, 37], 17834),
])
def test_puzzles_in_words(client, model, text, task, numbers, target):
    r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}],
                                       extra_body={"include_search": True})
    info = r.model_extra["ponder"]
    assert info["task"] == task and info["problem"]["numbers"] == numbers and info["problem"]["target"] == target
    assert info["search"][0]["correct"] is not None  # checked by rule


def test_words_no_task_reads_and_unknown_models(server, client):
    status, _, answer = post(server, "/v1/chat/completions", {"messages": [{"role": "user", "content": "hello"}]}, key=KEY)
    assert status == 400 and "Make 66 from 25, 3, 7 and 10" in answer["error"]["message"]
    status, _, answer = post(server, "/v1/chat/completions",
                             {"model": "gpt-5", "messages": [{"role": "user", "content": PUZZLE}]}, key=KEY)
    assert status == 404 and answer["error"]["code"] == "model_not_found"
    ids = [m.id for m in client.models.list().data]
    assert ids[0] == "nano-v2" and {"nano-v2:countdown", "nano-v2:game24", "nano-v2:arith"} <= set(ids)


def test_the_solver_says_no_solution_at_once(client):
    r = client.chat.completions.create(model="nano-v2", messages=[{"role": "user", "content": "25 3 7 9 -> 66"}])
    assert "has no solution" in r.choices[0].message.content and r.usage.completion_tokens == 0
    assert r.model_extra["ponder"]["no_solution"] and r.choices[0].finish_reason == "stop"
    resp = client.responses.create(model="nano-v2", input="Make 66 from 25, 3, 7 and 9")
    assert "has no solution" in resp.output_text


def test_keep_alive_comments_while_a_search_thinks(server):
    conn = http.client.HTTPConnection(server.removeprefix("http://"), timeout=120)
    body = json.dumps({"messages": [{"role": "user", "content": "Make 66 from 25, 3, 7 and 10"}], "stream": True})
    conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json",
                                                        "Authorization": f"Bearer {KEY}"})
    response = conn.getresponse()
    lines = []
    while len(lines) < 200:
        line = response.fp.readline().decode()
        lines.append(line)
        if line.startswith(": keep-alive") or not line:
            break
    conn.close()  # the client leaves: the search is cancelled
    assert any(line.startswith(": keep-alive") for line in lines), lines


# --------------------------------------------------------------------------- completions, echo, tokenizer, lm-eval


def test_completions_echo_scores_the_prompt(server):
    from ponder.backends import load_policy

    policy = load_policy(None)
    ids = policy.tokenize("game24 4 7 8 8 -> 24\n4 7 8 8 :", special=False)
    status, _, got = post(server, "/v1/completions", {"prompt": ids, "echo": True, "logprobs": 1, "max_tokens": 0},
                          key=KEY)
    assert status == 200
    [choice] = got["choices"]
    scored = policy.score(ids)
    assert choice["text"] == policy.detokenize(ids) and choice["logprobs"]["tokens"] == [s.token for s in scored]
    assert choice["logprobs"]["token_logprobs"] == pytest.approx([s.logprob for s in scored], abs=1e-4)
    assert all(top == {s.top: pytest.approx(s.top_logprob, abs=1e-4)}
               for top, s in zip(choice["logprobs"]["top_logprobs"], scored))
    status, _, more = post(server, "/v1/completions", {"prompt": "game24 4 7 8 8 -> 24\n", "echo": True, "logprobs": 1,
                                                       "max_tokens": 4, "temperature": 0}, key=KEY)
    text = more["choices"][0]["text"]
    assert text.startswith("game24 4 7 8 8 -> 24\n4 7 8") and len(more["choices"][0]["logprobs"]["tokens"]) == 8 + 4


def test_token_ids_beyond_the_vocabulary_are_refused(server):
    for path, body in (("/v1/completions", {"prompt": [5, 10 ** 6], "echo": True, "max_tokens": 0}),
                       ("/detokenize", {"tokens": [10 ** 6]}), ("/v1/completions", {"prompt": [[1], [-1]]})):
        status, _, answer = post(server, path, body, key=KEY)
        assert status == 400 and answer["error"]["param"] in ("prompt", "tokens"), (path, answer)


def test_tokenizer_routes(server):
    tokens = post(server, "/tokenize", {"prompt": "game24 4 7 8 8 -> 24", "add_special_tokens": False}, key=KEY)[2]
    assert tokens["count"] == len(tokens["tokens"]) == 7
    assert post(server, "/detokenize", {"tokens": tokens["tokens"]}, key=KEY)[2]["prompt"] == "game24 4 7 8 8 -> 24"
    info = json.loads(get(server, "/tokenizer_info"))
    assert info["eos_token"] == "<eos>" and "chat_template" in info


def test_lm_evaluation_harness_local_completions(server, tmp_path):
    needs_module("lm_eval", "pip install 'lm-eval[api]'")
    from ponder.backends import load_policy

    docs = [{"context": "game24 4 7 8 8 -> 24", "choices": ["\n4 7 8 8 :", "\n4 7 9 8 :"], "label": 0},
            {"context": "countdown 25 3 7 10 -> 66", "choices": ["\n25 3 7 10 :", "\n3 25 7 10 :"], "label": 0}]
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (tmp_path / "ponder_mc.yaml").write_text(
        f"task: ponder_mc\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {tmp_path / 'docs.jsonl'}\n"
        "test_split: test\noutput_type: multiple_choice\ndoc_to_text: '{{context}}'\ndoc_to_choice: '{{choices}}'\n"
        "doc_to_target: '{{label}}'\ntarget_delimiter: ''\nmetric_list:\n  - metric: acc\n")
    (tmp_path / "ponder_gen.yaml").write_text(
        f"task: ponder_gen\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {tmp_path / 'docs.jsonl'}\n"
        "test_split: test\noutput_type: generate_until\ndoc_to_text: \"{{context}}\\n\"\ndoc_to_target: ''\n"
        "generation_kwargs:\n  until: [\"\\n\"]\n  max_gen_toks: 40\n  temperature: 0\n"
        "metric_list:\n  - metric: bypass\n")
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "OPENAI_API_KEY": KEY, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "lm_eval", "--model", "local-completions", "--model_args",
         f"base_url={server}/v1/completions,model=nano-v2,tokenizer_backend=remote,auth_token={KEY},num_concurrent=1,"
         "max_retries=1",
         "--tasks", "ponder_mc,ponder_gen", "--include_path", str(tmp_path), "--output_path", str(tmp_path / "out"),
         "--log_samples"], capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    samples = {p.name.split("_2")[0]: [json.loads(line) for line in p.read_text().splitlines()]
               for p in (tmp_path / "out").rglob("samples_*.jsonl")}
    policy = load_policy(None)
    for row in samples["samples_ponder_mc"]:  # its log-likelihoods are ponder's own scores of the same tokens
        context = policy.tokenize(row["doc"]["context"], special=False)
        for choice, [[loglik, _]] in zip(row["doc"]["choices"], row["resps"]):
            ours = policy.score(context + policy.tokenize(choice, special=False))[len(context):]
            assert float(loglik) == pytest.approx(sum(s.logprob for s in ours), abs=1e-3)
        assert row["acc"] == 1.0
    from ponder.types import SamplingParams
    for row in samples["samples_ponder_gen"]:  # its generations are ponder's greedy first lines
        [[c]] = policy.generate([row["doc"]["context"] + "\n"], SamplingParams(temperature=0, max_tokens=40, stop=("\n",)))
        assert row["resps"][0][0] == c.text


# --------------------------------------------------------------------------- metrics and docs


def test_metrics_histograms(server, client):
    list(client.chat.completions.create(model="nano-v2", messages=[{"role": "user", "content": PUZZLE}], stream=True))
    assert post(server, "/v1/responses", {"input": PUZZLE, "store": True}, key=KEY)[0] == 400
    text = get(server, "/metrics").decode()
    assert 'ponder_request_seconds_bucket{le="0.5",route="/v1/chat/completions"}' in text
    assert "ponder_first_reasoning_seconds_count" in text and "ponder_tokens_generated_total" in text
    assert 'ponder_requests_total{route="/v1/responses",status="400"}' in text


def test_docs_work_offline_with_every_request_schema(server):
    page = get(server, "/docs").decode()
    sources = [part.split('"')[1] for part in page.split("src=")[1:]] + [part.split('"')[1] for part in page.split("href=")[1:]]
    assert sources and all(s.startswith("/static/") for s in sources), sources  # nothing from a CDN
    for s in sources:
        assert len(get(server, s)) > 100
    doc = json.loads(get(server, "/openapi.json"))
    from ponder.serve.schema import BODIES

    for path, model in BODIES.items():
        ref = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith(model.__name__) and doc["components"]["schemas"][model.__name__]["properties"]
    chat = doc["components"]["schemas"]["ChatCompletionBody"]["properties"]
    assert {"messages", "reasoning_effort", "max_completion_tokens", "strategy", "budget", "samples"} <= set(chat)


# --------------------------------------------------------------------------- clients people use


def test_langchain_shows_the_reasoning(server):
    needs_module("langchain_openai", "pip install langchain-openai")
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(model="nano-v2", base_url=server + "/v1", api_key=KEY, use_responses_api=True,
                     reasoning={"effort": "low", "summary": "auto"})
    message = llm.invoke(PUZZLE)
    reasoning = [b["reasoning"] for b in message.content_blocks if b["type"] == "reasoning"]
    assert any(r.startswith("Tried 8 steps") for r in reasoning) and message.text == "8 * ((7 + 4) - 8)"
    streamed = [b for chunk in llm.stream(PUZZLE) for b in chunk.content_blocks if b["type"] == "reasoning"]
    assert any(b.get("reasoning", "").startswith("Tried 8 steps") for b in streamed)


def test_litellm_shows_the_reasoning(server):
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network here
    litellm = needs_module("litellm", "pip install litellm")
    messages = [{"role": "user", "content": PUZZLE}]
    r = litellm.completion(model="hosted_vllm/nano-v2", api_base=server + "/v1", api_key=KEY, messages=messages,
                           reasoning_effort="low")
    assert r.choices[0].message.reasoning_content.startswith("Tried 8 steps")
    stream = litellm.completion(model="hosted_vllm/nano-v2", api_base=server + "/v1", api_key=KEY, messages=messages,
                                reasoning_effort="low", stream=True)
    thinking = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in stream)
    assert thinking.startswith("Thinking with greedy") and "Tried 8 steps" in thinking


def test_playground_and_version_are_served(server):
    assert b"ponder playground" in get(server, "/")
    random = json.loads(get(server, "/problems/random?task=game24&seed=3"))
    assert random["text"].startswith("Game of 24:") and random["task"] == "game24"
    for query, param in (("seed=x", "seed"), ("task=nope", "task")):
        try:
            get(server, f"/problems/random?{query}")
            raise AssertionError(query)
        except urllib.error.HTTPError as e:
            assert e.code == 400 and json.loads(e.read())["error"]["param"] == param
    out = subprocess.run([*PONDER, "--version"], capture_output=True, text=True)
    assert out.stdout.startswith("ponder 0.")
