"""``ponder serve`` as a client sees it: real server processes on loopback ports, called with the
official ``openai`` client (sync and streaming) and with plain HTTP for what the client hides.

One server (countdown-3, the nano policy, an API key, room for two requests) serves the module;
a second, in proxy mode, puts ponder in front of it."""

import json
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from conftest import PONDER, free_port, needs_module, ponder_env

openai = needs_module("openai")
needs_module("fastapi", "pip install 'ponder[serve]'")
needs_module("uvicorn", "pip install 'ponder[serve]'")

KEY = "test-key"
PROBLEM = "4 6 10 -> 34"
SLOW = {"strategy": "adaptive", "samples": 250, "strategy_options": {"batch": 1, "agree": 2.0}}
"""A search of hundreds of short rounds (adaptive that never agrees): it runs until it is cancelled."""


def start(*args, env=None):
    port = free_port()
    proc = subprocess.Popen([*PONDER, "serve", "--port", str(port), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ponder_env(env))
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        if proc.poll() is not None:
            raise AssertionError(f"ponder serve exited: {proc.stdout.read()}")
        try:
            urllib.request.urlopen(url + "/health", timeout=1).read()
            return proc, url
        except OSError:
            time.sleep(0.25)
    proc.kill()
    raise AssertionError("ponder serve did not come up")


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def server():
    proc, url = start("--task", "countdown-3", "--api-key", KEY, "--max-queue", "2", "--max-active", "2",
                      "--timeout", "120", "--max-body", "100000")
    yield url
    stop(proc)


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server + "/v1", api_key=KEY, max_retries=0, timeout=120)


def post(url, path, body, key=KEY, raw=None):
    """(status, headers, JSON body) of a POST, errors included."""
    data = raw if raw is not None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    try:
        with urllib.request.urlopen(urllib.request.Request(url + path, data=data, headers=headers), timeout=120) as r:
            return r.status, r.headers, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read())


def metric(url, name) -> float:
    text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


def chat(text=PROBLEM):
    return [{"role": "user", "content": text}]


def test_chat_answer_with_hidden_reasoning_and_honest_usage(server, client):
    models = client.models.list()
    model = models.data[0].id
    r = client.chat.completions.create(model=model, messages=chat(), reasoning_effort="low")
    message = r.choices[0].message
    assert message.content
    assert message.reasoning_summary  # o1 style: a summary, not the reasoning
    assert message.reasoning == message.reasoning_content == message.reasoning_summary  # as chat UIs read it
    u = r.usage
    assert u.total_tokens == u.prompt_tokens + u.completion_tokens
    assert u.completion_tokens_details.reasoning_tokens == u.completion_tokens > 0

    # the same search through ponder's own solver reports the same tokens
    from ponder.backends import load_policy
    from ponder.search import get_strategy
    from ponder.tasks import get_task

    task = get_task("countdown-3")
    result = get_strategy("greedy")(task.make_problem([4, 6, 10], 34), load_policy(), budget=20000, task=task)
    assert u.completion_tokens_details.reasoning_tokens == result.usage.thinking_tokens
    assert u.prompt_tokens == result.usage.prompt_tokens and message.content == result.answer

    full = client.chat.completions.create(model=model, messages=chat(), extra_body={"include_reasoning": True})
    assert full.choices[0].message.reasoning.strip().endswith(full.choices[0].message.content)


def test_ponder_options_n_and_stop(client):
    r = client.chat.completions.create(model="nano-v2", messages=chat(), n=2, temperature=0.8, seed=3,
                                       extra_body={"strategy": "majority", "samples": 3, "budget": 400})
    assert [c.index for c in r.choices] == [0, 1]
    assert r.model_extra["ponder"]["strategy"] == "majority" and r.model_extra["ponder"]["budget"] == 400
    assert r.usage.completion_tokens <= 2 * 400 + 200  # each search stops near its budget
    cut = client.chat.completions.create(model="nano-v2", messages=chat(), stop=["*", "+", "-", "/"])
    assert not any(op in cut.choices[0].message.content for op in "*+-/")


def test_stream_order_and_usage(client):
    stream = client.chat.completions.create(model="nano-v2", messages=chat(), stream=True,
                                            stream_options={"include_usage": True},
                                            extra_body={"strategy": "majority", "samples": 3, "budget": 400})
    kinds, usage = [], None
    for c in stream:
        if c.usage is not None:
            usage = c.usage
            kinds.append("usage")
        for choice in c.choices:
            extra = choice.delta.model_extra or {}
            if extra.get("reasoning_summary"):
                kinds.append("reasoning")
            if choice.delta.content:
                kinds.append("content")
    assert kinds[0] == "reasoning" and "content" in kinds and kinds[-1] == "usage"
    assert kinds.index("content") > max(i for i, k in enumerate(kinds) if k == "reasoning")
    assert usage.completion_tokens_details.reasoning_tokens == usage.completion_tokens > 0


@pytest.mark.parametrize("body,status,param", [
    (None, 400, None),  # not JSON
    ({"messages": []}, 400, "messages"),
    ({"messages": [{"role": "user", "content": "  "}]}, 400, "messages"),
    ({"messages": "4 6 10 -> 34"}, 400, "messages"),
    ({"messages": chat(), "model": "gpt-9"}, 404, "model"),
    ({"messages": chat(), "budget": -5}, 400, "budget"),
    ({"messages": chat(), "budget": 10 ** 12}, 400, "budget"),
    ({"messages": chat(), "budget": "lots"}, 400, "budget"),
    ({"messages": chat(), "n": 0}, 400, "n"),
    ({"messages": chat(), "temperature": "hot"}, 400, "temperature"),
    ({"messages": chat(), "reasoning_effort": "extreme"}, 400, "reasoning_effort"),
    ({"messages": chat(), "strategy": "telepathy"}, 400, "strategy"),
    ({"messages": chat(), "reward": "/etc/passwd"}, 400, "reward"),
    ({"messages": chat("1 2 -> 999")}, 400, None),  # the task refuses the problem
    ({"messages": chat(), "stream": "yes"}, 400, "stream"),
    # hostile input: each was a 500, or a 200 for nonsense, or one request failing its neighbours
    (b"[" * 100_000, 400, None),  # nesting the parser would recurse into
    (b'{"messages": [{"role": "user", "content": "4 6 10 -> 34"}], "temperature": NaN}', 400, "temperature"),
    ({"messages": chat("9" * 5000 + " 6 10 -> 34")}, 400, None),  # past int()'s digit limit
    ({"messages": chat("\u00b2 6 10 -> 34")}, 400, None),  # a digit to str.isdigit, not to int()
    ({"messages": chat("4 6 10 -> 34 -> 5")}, 400, None),
    ({"messages": chat(), "reasoning_effort": ""}, 400, "reasoning_effort"),
    ({"messages": chat(), "budget": 10 ** 400}, 400, "budget"),
    ({"messages": chat(), "strategy": "sample", "strategy_options": {"temperature": 1e30}}, 400, "strategy_options"),
    ({"messages": chat(), "strategy": "majority", "strategy_options": {"n": "abc"}}, 400, "strategy_options"),
    ({"messages": chat(), "strategy": "majority", "strategy_options": {"n": -5}}, 400, "strategy_options"),
    ({"messages": chat(), "strategy": "sample", "strategy_options": {"top_p": 0}}, 400, "strategy_options"),
    ({"messages": chat(), "strategy": "beam", "strategy_options": {"expand": 1.5}}, 400, "strategy_options"),
    ({"messages": chat(), "strategy": "beam", "strategy_options": {"width": 0}}, 400, "strategy_options"),
    ({"messages": chat(), "strategy": "auto", "strategy_options": {"confident": "x"}}, 400, "strategy_options"),
    ({"messages": chat(), "strategy": "greedy", "strategy_options": {"temperature": -1}}, 400, "strategy_options"),
])
def test_bad_requests_get_openai_errors(server, body, status, param):
    raw = b"{not json" if body is None else body if isinstance(body, bytes) else None
    code, _, answer = post(server, "/v1/chat/completions", body, raw=raw)
    assert code == status
    error = answer["error"]
    assert error["message"] and error["type"] and error["param"] == param
    assert len(error["message"]) < 300  # the input is quoted short, never whole


def test_a_chunked_upload_is_refused_as_it_comes_in(server):
    """No Content-Length to check first: the body limit (100,000 bytes here) holds as it streams."""
    import http.client
    from urllib.parse import urlparse

    url = urlparse(server)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    conn.putrequest("POST", "/v1/chat/completions")
    for name, value in (("Authorization", f"Bearer {KEY}"), ("Content-Type", "application/json"),
                        ("Transfer-Encoding", "chunked")):
        conn.putheader(name, value)
    conn.endheaders()
    sent = 0
    try:
        for _ in range(100):  # up to 6.4 MB, 64 kB a chunk
            conn.send(b"%x\r\n%s\r\n" % (1 << 16, b" " * (1 << 16)))
            sent += 1 << 16
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server stopped reading: refused
    else:
        conn.send(b"0\r\n\r\n")
    response = conn.getresponse()
    assert response.status == 413 and "max-body" in json.loads(response.read())["error"]["message"]
    assert post(server, "/v1/chat/completions", {"messages": chat(), "max_tokens": 8})[0] == 200  # still serving


def test_health_tells_a_caller_without_the_key_only_that_it_is_up(server):
    assert json.loads(urllib.request.urlopen(server + "/health", timeout=10).read()) == {"status": "ok"}
    with_key = urllib.request.Request(server + "/health", headers={"Authorization": f"Bearer {KEY}"})
    assert json.loads(urllib.request.urlopen(with_key, timeout=10).read())["model"] == "nano-v2"


def test_auth_and_size_limits(server):
    code, _, answer = post(server, "/v1/chat/completions", {"messages": chat()}, key=None)
    assert code == 401 and "API key" in answer["error"]["message"]
    assert post(server, "/v1/chat/completions", {"messages": chat()}, key="wrong")[0] == 401
    code, _, answer = post(server, "/v1/chat/completions", {"messages": chat("1 " * 60000)})
    assert code == 413 and answer["error"]["message"]
    code, _, answer = post(server, "/v1/nothing", {})
    assert code == 404 and answer["error"]["message"]
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server + "/v1", api_key="wrong", max_retries=0).models.list()


def test_queue_full_429_batching_and_disconnect_cancels(server, client):
    cancelled, calls, batched = (metric(server, n) for n in ("ponder_searches_cancelled_total",
                                                              "ponder_generate_calls_total",
                                                              "ponder_batched_requests_total"))
    held = [client.chat.completions.create(model="nano-v2", messages=chat(), stream=True, extra_body=SLOW)
            for _ in range(2)]
    for s in held:  # both admitted, both searching
        next(iter(s))
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="nano-v2", messages=chat())
    assert int(refused.value.response.headers["Retry-After"]) >= 1
    time.sleep(2)  # some rounds of both searches
    for s in held:
        s.close()
    for _ in range(120):
        if metric(server, "ponder_searches_cancelled_total") >= cancelled + 2:
            break
        time.sleep(0.25)
    assert metric(server, "ponder_searches_cancelled_total") == cancelled + 2
    impatient = openai.OpenAI(base_url=server + "/v1", api_key=KEY, max_retries=0, timeout=1.5)
    with pytest.raises(openai.APITimeoutError):  # a client that gives up on a plain request cancels it too
        impatient.chat.completions.create(model="nano-v2", messages=chat(), extra_body=SLOW)
    for _ in range(120):
        if metric(server, "ponder_searches_cancelled_total") >= cancelled + 3:
            break
        time.sleep(0.25)
    assert metric(server, "ponder_searches_cancelled_total") == cancelled + 3
    # the two requests shared policy calls: more requests served than calls made
    assert metric(server, "ponder_batched_requests_total") - batched > metric(server, "ponder_generate_calls_total") - calls
    assert metric(server, 'ponder_requests_total{route="/v1/chat/completions",status="429"}') >= 1
    assert metric(server, "ponder_requests_active") == 0
    client.chat.completions.create(model="nano-v2", messages=chat())  # room again


def test_plain_completions(server, client):
    r = client.completions.create(model="nano-v2", prompt="Countdown 4 6 10 -> 34\n", max_tokens=12, n=2, seed=1)
    assert len(r.choices) == 2 and r.usage.completion_tokens <= 24
    code, _, answer = post(server, "/v1/completions", {"prompt": "x", "reasoning_effort": "high"})
    assert code == 400 and "chat" in answer["error"]["message"]


def test_proxy_mode_ponder_in_front_of_ponder(server):
    proc, front = start("--task", "countdown-3", "--upstream", server + "/v1", env={"OPENAI_API_KEY": KEY})
    try:
        client = openai.OpenAI(base_url=front + "/v1", api_key="unused", max_retries=0, timeout=120)
        model = client.models.list().data[0].id
        assert model == "openai:nano-v2"
        r = client.chat.completions.create(model=model, messages=chat(), reasoning_effort="medium",
                                           extra_body={"budget": 300})
        assert r.choices[0].message.reasoning_summary
        assert r.usage.completion_tokens_details.reasoning_tokens == r.usage.completion_tokens > 0
        assert r.model_extra["ponder"]["strategy"] == "majority"
        stream = client.chat.completions.create(model=model, messages=chat(), stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text
    finally:
        stop(proc)


# --------------------------------------------------------------------------- the engine thread, without a server


def test_scheduler_batches_jobs_and_closes_cancelled_ones():
    import threading

    from ponder.search.base import Generate
    from ponder.serve.scheduler import Job, JobEnded, JobFailed, QueueFull, Scheduler, UnitDone
    from ponder.types import Completion, SamplingParams

    class Mirror:  # a policy that writes each prompt backwards, and remembers its batch sizes
        name, max_context, batches = "mirror", 64, []

        def generate(self, prompts, params):
            self.batches.append(len(prompts))
            return [[Completion(p[::-1], (0,) * len(p), "stop", len(p))] for p in prompts]

    closed = []

    def two_calls(text, forever=False):
        try:
            while True:
                [[a]] = yield Generate((text,), (SamplingParams(),))
                [[b]] = yield Generate((a.text + "!",), (SamplingParams(),))
                if not forever:
                    return b.text
        finally:
            closed.append(text)

    events, ended = [], threading.Semaphore(0)

    def post(event):
        events.append(event)
        if isinstance(event, (JobEnded, JobFailed)):
            ended.release()

    policy = Mirror()
    sched = Scheduler(policy, max_active=4, max_queue=3)
    deadline = time.monotonic() + 60
    jobs = [Job([two_calls(t)], post, deadline, [None]) for t in ("ab", "cd")]
    endless = Job([two_calls("loop", forever=True)], lambda e: None, deadline, [None])
    for job in jobs + [endless]:
        sched.submit(job)
    with pytest.raises(QueueFull):
        sched.submit(Job([two_calls("no room")], post, deadline, [None]))
    sched.start()
    try:
        assert ended.acquire(timeout=10) and ended.acquire(timeout=10)
        assert sorted(e.result for e in events if isinstance(e, UnitDone)) == ["!ab", "!cd"]
        assert policy.batches[:2] == [3, 3]  # every job's call in one generate, round after round
        sched.cancel(endless)
        for _ in range(100):
            if "loop" in closed:
                break
            time.sleep(0.05)
        assert "loop" in closed and sched.metrics["cancelled"] == 1 and sched.load == (0, 0)
    finally:
        sched.stop()


def test_a_request_that_breaks_the_model_fails_alone():
    """A hostile call in every round of a batch: the batched call fails, each job's calls are sent
    again alone, and only the hostile jobs fail; the others end as if they had run alone."""
    import threading

    from ponder.search.base import Generate
    from ponder.serve.scheduler import Job, JobEnded, JobFailed, Scheduler, UnitDone
    from ponder.types import Completion, SamplingParams

    class Fragile:  # a policy that fails a whole call when one prompt in it is "poison"
        name, max_context, batches = "fragile", 64, []

        def generate(self, prompts, params):
            self.batches.append(list(prompts))
            if "poison" in prompts:
                raise OverflowError("Overflow when unpacking long long")
            return [[Completion(p.upper(), (0,), "stop", 1)] for p in prompts]

    def calls(texts):
        out = []
        for text in texts:
            [[c]] = yield Generate((text,), (SamplingParams(),))
            out.append(c.text)
        return out

    events, ended = {}, threading.Semaphore(0)

    def job(name, texts):
        def post(event):
            if isinstance(event, UnitDone):
                events[name] = event.result
            if isinstance(event, (JobEnded, JobFailed)):
                events.setdefault(name + "/end", event)
                ended.release()
        return Job([calls(texts)], post, time.monotonic() + 60, [None])

    policy = Fragile()
    sched = Scheduler(policy, max_active=8, max_queue=8)
    good = {f"good{i}": [f"g{i}r{r}" for r in range(3)] for i in range(3)}
    hostile = {f"hostile{k}": [f"h{k}r{r}" for r in range(k)] + ["poison"] for k in range(3)}  # poison in round k
    for name, texts in {**good, **hostile}.items():
        sched.submit(job(name, texts))
    sched.start()
    try:
        for _ in range(6):
            assert ended.acquire(timeout=10)
        for name, texts in good.items():
            assert isinstance(events[name + "/end"], JobEnded) and events[name] == [t.upper() for t in texts]
        for name in hostile:
            assert isinstance(events[name + "/end"], JobFailed) and events[name + "/end"].error.status == 500
        poisoned = [b for b in policy.batches if "poison" in b and len(b) > 1]
        assert len(poisoned) == 3  # a hostile call was batched with others in each of the three rounds
    finally:
        sched.stop()


def test_scheduler_turns_away_what_cannot_end_in_time():
    """On a clock that the policy moves one second a call, with one job in the batch at a time:
    once three jobs have shown how long jobs take, a queued job that would end past its deadline
    is refused with a 429 before any compute is spent on it, and so is a new one."""
    import threading

    from ponder.search.base import Generate
    from ponder.serve.scheduler import Job, JobEnded, JobFailed, QueueFull, Scheduler
    from ponder.types import Completion, SamplingParams

    now = [0.0]

    class Slow:  # each call takes one second of the scheduler's clock
        name, max_context, seen = "slow", 64, []

        def generate(self, prompts, params):
            self.seen.extend(prompts)
            now[0] += 1.0
            return [[Completion(p, (0,), "stop", 1)] for p in prompts]

    def one_call(text):
        [[a]] = yield Generate((text,), (SamplingParams(),))
        return a.text

    events, ended = {}, threading.Semaphore(0)

    def job(text, deadline):
        def post(event):
            if isinstance(event, (JobEnded, JobFailed)):
                events[text] = event
                ended.release()
        return Job([one_call(text)], post, deadline, [None], kind="one call")

    policy = Slow()
    sched = Scheduler(policy, max_active=1, max_queue=10, clock=lambda: now[0])
    # a, b, c end at 1, 2, 3; e runs from 3 to 4; d would run from 4 to 5, past its deadline of 4.5
    for text, deadline in (("a", 100), ("b", 100), ("c", 100), ("e", 100), ("d", 4.5)):
        sched.submit(job(text, deadline))  # nothing to forecast from yet: all are taken
    sched.start()
    try:
        for _ in range(5):
            assert ended.acquire(timeout=10)
        assert all(isinstance(events[t], JobEnded) for t in "abce")
        refusal = events["d"].error
        assert refusal.status == 429 and int(refusal.headers["Retry-After"]) >= 1
        assert "d" not in policy.seen and sched.metrics["shed"] == 1
        with pytest.raises(QueueFull, match="time limit"):  # a job takes 1 s: half a second is too little
            sched.submit(job("f", now[0] + 0.5))
        sched.submit(job("g", now[0] + 2))
        assert ended.acquire(timeout=10) and isinstance(events["g"], JobEnded)
    finally:
        sched.stop()


def test_usage_counts_every_token_once():
    from ponder.serve.protocol import chat_usage, cut_stop
    from ponder.types import SearchResult, Usage

    results = [SearchResult("1+2", "", "", Usage(10, 4, 100, 30)), SearchResult(None, "", "", Usage(10, 8, 50, 0))]
    u = chat_usage(results)
    assert u["prompt_tokens"] == 20 and u["prompt_tokens_details"]["cached_tokens"] == 12
    assert u["completion_tokens"] == u["completion_tokens_details"]["reasoning_tokens"] == 180
    assert u["total_tokens"] == 200 == sum(r.usage.total_tokens for r in results)
    assert cut_stop("(6 * 4) + 10", ("+", "*")) == ("(6 ", True) and cut_stop("12", ("+",)) == ("12", False)
