"""Parallel threads (issue 35): the solver's parallel traces, and the ``parallel`` strategy's runtime
driving a policy that writes them."""

import random
import re
from dataclasses import replace

import pytest

from ponder.search import get_strategy
from ponder.search.base import Generate, together
from ponder.tasks import get_task
from ponder.types import Completion, Problem, SamplingParams


def trace_text(segments):
    return "".join(text for text, _ in segments)


@pytest.mark.parametrize("name", ["countdown", "game24", "countdown-5"])
def test_parallel_traces_hand_out_states_and_read_back_what_their_threads_find(name):
    task = get_task(name)
    for i, p in enumerate(task.problems("train", 12, seed=3)):
        segments = task.parallel_trace(p, random.Random(i), wave=4)
        text = trace_text(segments)
        assert task.check(p, task.answer(text))  # the root's answer is right by rule
        # every join: the spawn lines before it hand out its threads, and the results after it are what
        # the runtime writes from each thread's serial search of its state (``joined``)
        written = ""
        for (seg, trained), (after, _) in zip(segments, segments[1:]):
            if seg == task.join_mark:  # the runtime reads the spawn lines where the thread stops, before the mark
                subs = task.spawned(p, written)
                assert 1 <= len(subs) <= 4
                results = [task.joined(spawn, sub, task.full_search(sub, give_up=True)) for spawn, sub in subs]
                assert after == "\n" + "".join(r + "\n" for r in results)
            written += seg
        untrained = [seg for seg, trained in segments if not trained]
        assert untrained and all(seg.startswith("\n") for seg in untrained)  # only the joined results


def test_together_batches_searches_and_hands_each_its_rows():
    def search(prompts, rounds):
        got = []
        for r in range(rounds):
            rows = yield Generate(tuple(f"{p}{r}" for p in prompts), (SamplingParams(),) * len(prompts))
            got += [row[0].text for row in rows]
        return got

    run = together([search(("a", "b"), 2), search(("c",), 1), search(("d",), 3)])
    call, seen = run.send(None), []
    while True:
        seen.append(call.prompts)
        reply = [[Completion(p.upper(), (1,), "stop", 1)] for p in call.prompts]
        try:
            call = run.send(reply)
        except StopIteration as done:
            results = done.value
            break
    assert seen == [("a0", "b0", "c0", "d0"), ("a1", "b1", "d1"), ("d2",)]  # one batched call a round
    assert results == [["A0", "B0", "A1", "B1"], ["C0"], ["D0", "D1", "D2"]]


class Solver:
    """A policy that writes what the solver's traces say: the root thread's parallel trace (after its
    prefix, up to the next stop) for a ``parallel`` prompt, the full serial search for any other. One
    token a word."""

    name, max_context = "solver", 4096
    meta = {"trace_styles": ["search", "direct", "parallel"]}

    def __init__(self, task, lenient: bool = False):
        self.task, self.prompts, self.lenient = task, [], lenient

    def count_tokens(self, text):
        return len(text.split())

    def generate(self, prompts, params):
        params = params if isinstance(params, (list, tuple)) else [params] * len(prompts)
        self.prompts.append(list(prompts))
        out = []
        for prompt, p in zip(prompts, params):
            head, _, written = prompt.partition("\n")
            words = head.split()
            parallel = words[-1] == "parallel"
            numbers = [int(w) for w in words[1:words.index("->")]]
            problem = Problem("thread", self.task.name, tuple(numbers), int(words[words.index("->") + 1]))
            full = (trace_text(self.task.parallel_trace(problem, random.Random(0), wave=4)) if parallel
                    else self.task.full_search(problem, give_up=True))
            if parallel and self.lenient and not full.startswith(written):
                # a thread cut short (by ``race``, or its budget) read as none found: the root answers
                # from the path copied out, or gives up
                copied = written.rsplit("\n<\n", 1)[1].split("\n")
                steps = "".join(line + "\n" for line in copied if line and ";" not in line and "✗" not in line)
                full = written + (self.task.written_answer(problem, steps) or "") + "\n"
            assert full.startswith(written)  # the runtime wrote what the trace says
            text, stop = full[len(written):], None
            for s in p.stop:
                if s in text:
                    text, stop = text[:text.index(s)], s
            words = re.findall(r"\s*\S+", text)
            if len(words) + (stop is not None) > p.max_tokens:  # cut at its token limit (a chunk)
                text, stop = "".join(words[:p.max_tokens]), None
                out.append([Completion(text, tuple(range(p.max_tokens)), "length", len(prompt.split()))])
                continue
            tokens = len(text.split()) + (stop is not None)  # the stop string's token is written, then cut
            out.append([Completion(text, tuple(range(tokens)), "stop", len(prompt.split()), stop=stop)])
        return out


@pytest.mark.parametrize("copy", [True, False])
def test_the_runtime_spawns_threads_batches_them_and_counts_every_token(copy):
    task = get_task("countdown")
    policy = Solver(task)  # it checks that the runtime wrote what the trace says: the results, and the path copied
    problems = task.problems("test-unseen", 8, seed=2)
    results = get_strategy("parallel", copy=copy).run(problems, policy, budget=None, task=task)
    assert all(task.check(p, r.answer) for p, r in zip(problems, results))
    for p, r in zip(problems, results):
        segments = task.parallel_trace(p, random.Random(0), wave=4)
        full = trace_text(segments)
        joins = full.count("\n<\n")
        threads = [task.full_search(sub, give_up=True) for _, sub in spawned_all(task, p, full)]
        root_tokens = sum(len(seg.split()) for seg, trained in segments if trained)
        copied = segments[-1][0].rsplit("\n", 2)[0] if copy else ""  # the path found, less the answer line
        assert len(copied.split("\n")) >= 2 * copy
        assert r.usage.completion_tokens == root_tokens - len(copied.split()) + sum(len(t.split()) for t in threads)
        assert r.steps < r.usage.completion_tokens and joins >= 1  # threads decoded side by side
        assert f"{len(threads)} threads" in r.reasoning_summary
        assert ("copied: " in "\n".join(r.trace)) == copy
    # the first round asks for the 8 roots together; later rounds batch the threads of every root's spawn
    assert len(policy.prompts[0]) == 8 and max(len(batch) for batch in policy.prompts) > 8


def test_threads_decoded_in_chunks_write_what_one_call_writes_and_race_to_the_first_path():
    """``chunk``: siblings decode a few tokens a call, and each ends where one call would have ended it,
    on the same results; ``race``: once one has found a path the others stop, and the root answers from it."""
    task = get_task("countdown")
    problems = task.problems("test-unseen", 8, seed=2)
    whole, chunked, raced = (get_strategy("parallel", **options).run(problems, Solver(task, lenient=True), task=task)
                             for options in ({}, {"chunk": 7}, {"chunk": 7, "race": True}))
    for w, c, r, p in zip(whole, chunked, raced, problems):
        assert (c.text, c.usage.completion_tokens, c.steps) == (w.text, w.usage.completion_tokens, w.steps)
        assert task.check(p, r.answer) and r.usage.completion_tokens <= w.usage.completion_tokens
    stopped = ["stopped once a path was found" in "\n".join(r.trace) for r in raced]
    assert any(stopped) and sum(r.usage.completion_tokens for r in raced) < sum(w.usage.completion_tokens for w in whole)


@pytest.mark.parametrize("budget", [300, 700, 1500])
def test_chunked_threads_never_spend_more_than_their_budget(budget):
    task = get_task("countdown")
    problems = task.problems("test-unseen", 8, seed=2)
    for chunk in (0, 5):
        results = get_strategy("parallel", chunk=chunk).run(problems, Solver(task, lenient=True), budget=budget, task=task)
        assert all(r.usage.thinking_tokens <= budget for r in results)
        assert sum(r.usage.thinking_tokens > budget - 10 for r in results) >= 2  # the budget binds


def test_a_spawns_threads_draw_on_one_pool_and_a_finished_one_leaves_the_rest_to_the_others():
    from ponder.search.base import Search
    from ponder.search.parallel import Spawn

    task = get_task("countdown")
    threads = [Search(p, task, Solver(task), None, None, 0) for p in task.problems("test-unseen", 3, seed=2)]
    spawn = Spawn(threads, ["a", "b", "c"], budget=90)
    assert spawn.share() == 30
    spawn.asked = 30  # the first thread's call is under way
    assert spawn.share() == 20
    spawn.asked = 0
    threads[0].usage.completion_tokens = 10
    spawn.ended(threads[0], "")  # it wrote 10 tokens and found nothing
    assert spawn.share() == 40 and not spawn.found
    assert Spawn(threads, ["a", "b", "c"], budget=float("inf")).share() == float("inf")


class Forgetful(Solver):
    """The solver's root, forgetting what it handed out: each wave after the first hands out the
    first wave's states again before its own."""

    def generate(self, prompts, params):
        out = []
        for prompt, p in zip(prompts, params):
            head, _, written = prompt.partition("\n")
            if head.split()[-1] != "parallel":
                out += super().generate([prompt], [p])
                continue
            self.prompts.append([prompt])
            words = head.split()
            numbers = [int(w) for w in words[1:words.index("->")]]
            problem = Problem("root", self.task.name, tuple(numbers), int(words[words.index("->") + 1]))
            segments = self.task.parallel_trace(problem, random.Random(0), wave=2)
            waves = [seg for seg, trained in segments if trained and seg.endswith(">\n")]
            first, joins = "".join(waves[:2]), written.count("\n<\n")
            script = [first] + [first + "".join(waves[2 * k:2 * k + 2]) for k in range(1, len(waves))]
            text = script[joins] + "<" if joins < len(script) and waves[2 * joins:] else segments[-1][0]
            stop = "<" if text.endswith("<") else None
            text = text[:-1] if stop else text
            out.append([Completion(text, tuple(range(len(text.split()) + bool(stop))), "stop", 0, stop=stop)])
        return out


def test_a_state_handed_out_again_is_read_from_the_thread_that_searched_it():
    """``reuse``: a state handed out a second time (same prompt) is not searched again; its result line
    is the first thread's, and its tokens are neither spent nor counted. Off, every spawn runs."""
    task = get_task("countdown")
    problems = [p for p in task.problems("test-unseen", 40, seed=2)
                if trace_text(task.parallel_trace(p, random.Random(0), wave=2)).count("\n<\n") >= 2][:4]
    assert problems
    reused, every = (get_strategy("parallel", reuse=reuse).run(problems, Forgetful(task), task=task)
                     for reuse in (True, False))
    for r, e, p in zip(reused, every, problems):
        assert r.text == e.text and r.answer == e.answer
        again = sum(line.count(" / ") + 1 for line in r.trace if line.startswith("joined:")) - int(r.reasoning_summary.split(" threads")[0].split()[-1])
        assert again >= 2 and "read from a thread run before" in "\n".join(r.trace)
        assert r.usage.completion_tokens < e.usage.completion_tokens


def spawned_all(task, problem, full):
    """Every thread a root trace hands out, join by join."""
    subs, written = [], ""
    for part in full.split("\n<\n")[:-1]:
        written += part + "\n"
        subs += task.spawned(problem, written)
        written += "<\n"
    return subs


def test_a_policy_without_threads_searches_serially():
    from ponder.backends import load_policy

    task = get_task("game24")
    policy = load_policy(None)  # nano-v2: trained on search and direct, not parallel
    problem = task.make_problem([4, 7, 8, 8])
    serial, parallel = (get_strategy(n)(problem, policy, task=task) for n in ("greedy", "parallel"))
    assert parallel.text == serial.text and parallel.steps == serial.steps == serial.usage.completion_tokens


def test_parallel_attempts_are_rollouts_of_every_thread_with_the_runtimes_lines_untrained():
    """GRPO's parallel attempts: the root thread graded by the verifier, each thread it spawned a
    rollout of its own prompt sharing that reward, and only what the policy sampled trained."""
    from ponder.train.rollout import Rollout, thread_rollouts
    from ponder.train.vocab import nano_tokenizer

    task = get_task("countdown")
    policy = Solver(task)
    policy.tokenizer = tok = nano_tokenizer()
    problems = task.problems("train", 3, seed=5)
    groups = thread_rollouts(policy, task, problems, group=2, temperature=1.0, seed=1)
    assert [len(g) for g in groups] == [2, 2, 2]
    for p, group in zip(problems, groups):
        for root in group:
            full = trace_text(task.parallel_trace(p, random.Random(0), wave=4))
            assert root.text == full and root.reward == 1.0 and root.prompt_ids == tuple(tok.encode(task.prompt(p, "parallel"), bos=True))
            subs = spawned_all(task, p, full)
            assert [t.text for t in root.threads] == [task.full_search(sub, give_up=True) for _, sub in subs]
            assert all(t.reward == root.reward and t.trained == (True,) * len(t.completion_ids) for t in root.threads)
            # each thread with its own state, and its own result by rule: the solver's searches all end right
            assert [t.problem.numbers for t in root.threads] == [sub.numbers for _, sub in subs]
            assert all(t.own == 1.0 for t in root.threads) and root.own is None
            # the root's untrained tokens are exactly the runtime's lines: the newline after each join, the
            # results, and the path found it copied out (``Parallel.copy``) before the root's answer line
            untrained = [i for i, k in zip(root.completion_ids, root.trained) if not k]
            segments = task.parallel_trace(p, random.Random(0), wave=4)
            results = "".join(seg for seg, trained in segments if not trained)
            copied = segments[-1][0].rsplit("\n", 2)[0] + "\n"
            assert untrained == tok.encode(results) + tok.encode(copied) and len(untrained) < len(root.completion_ids)
            assert root.generated == sum(root.trained) + sum(len(t.completion_ids) for t in root.threads)
            assert Rollout.from_json(root.to_json()) == root  # as workers send them


@pytest.mark.shipped("nano-v2-par")
def test_grpo_trains_every_thread_of_a_parallel_attempt_and_resumes_exactly(tmp_path):
    """GRPO end to end on the parallel policy: attempts are threads, each thread's tokens trained with
    its attempt's advantage, and a run killed after a step and resumed ends where an unbroken one does."""
    import json

    from conftest import assert_same_parameters

    from ponder.train.config import build
    from ponder.train.grpo import GRPOConfig, train_grpo

    def config(out):
        return build(GRPOConfig, dict(out=str(out), init="nano-v2-par", task="countdown", style="parallel", steps=2,
                                      problems_per_step=1, group=4, checkpoint_every=1, eval_problems=0, lr=1e-4,
                                      warmup=1))

    whole = train_grpo(config(tmp_path / "a"), progress=False)
    train_grpo(config(tmp_path / "b"), progress=False, stop_after=1)
    assert_same_parameters(whole, train_grpo(config(tmp_path / "b"), resume=True, progress=False))
    steps = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in steps if "rollout/threads" in r]
    assert len(steps) == 2 and all(r["rollout/threads"] >= 1 for r in steps)  # every attempt spawned threads
    trained = [r for r in steps if r["train/samples"]]
    assert trained and all(r["train/samples"] > 4 for r in trained)  # threads trained beside their roots


def test_a_threads_own_result_is_weighed_against_the_threads_handed_the_same_state():
    """``thread_weight``: beside its attempt's advantage, a thread gets its own result's (by rule) over
    the threads handed the same state in its group; where the attempts tie, only those threads teach."""
    from ponder.errors import UserError
    from ponder.train.config import build
    from ponder.train.grpo import GRPOConfig, advantages, thread_advantages
    from ponder.train.rollout import Rollout

    task = get_task("countdown")
    dead, live = Problem("d", "countdown", (75, 6, 99), 11), Problem("l", "countdown", (94, 75, 30), 11)
    # by rule: right when what the parent reads is right, a path from a live state, none from a dead one
    assert task.thread_outcome(live, task.full_search(live, give_up=True)) == 1.0
    assert task.thread_outcome(live, "94 75 30 ✗\n") == 0.0 and task.thread_outcome(live, "answer: 94 - 75 + 30\n") == 0.0
    assert task.thread_outcome(dead, task.full_search(dead, give_up=True)) == 1.0
    assert task.thread_outcome(dead, "answer: 99 - 75 - 6 - 7\n") == 0.0
    p = task.problems("val", 1)[0]

    def thread(state, own):
        return Rollout(p, (state,), (1, 2, 3), "", 1.0, "stop", own=own)

    a = [thread(5, 1.0), thread(6, 0.0)]
    b = [thread(5, 0.0), thread(6, 0.0), thread(7, 1.0)]
    roots = [Rollout(p, (1,), (4,), "", 1.0, "stop", threads=tuple(ts)) for ts in (a, b)]
    own = thread_advantages(roots)
    assert [own[id(t)] for t in a + b] == [0.5, 0.0, -0.5, 0.0, 0.0]

    def config(weight):
        return build(GRPOConfig, dict(out="x", init="nano-v2-par", task="countdown", style="parallel", thread_weight=weight))

    samples = advantages([roots], task, None, config(2.0), newline_id=0)
    assert [(t, float(adv[0])) for t, adv in samples] == [(a[0], 1.0), (b[0], -1.0)]
    assert advantages([roots], task, None, config(0.0), newline_id=0) == []  # tied roots teach nothing
    with pytest.raises(UserError, match="thread_weight"):
        build(GRPOConfig, dict(out="x", task="countdown", thread_weight=1.0))


def test_the_roots_answer_is_transcribed_from_the_path_it_copied_out():
    """The policy writes the path a thread found a step a line, then an answer that garbles it: the
    strategy answers what the steps spell out (nothing checked), unless told not to."""
    from ponder.search.parallel import Parallel, Thread

    task = get_task("countdown")
    problem = Problem("p", "countdown", (7, 89, 73, 89), 80)
    copied = "89 + 7 = 96 | 73 89 96\n96 + 73 = 169 | 89 169\n169 - 89 = 80 | 80\nanswer: (89 + 73) - (96 + 7)\n"
    pieces = (("7 89 73 89 -> 80 : 89 + 7 = 96 | 73 89 96 >\n<", (1,)),
              ("\n89 + 7 = 96 | 73 89 96 ; 96 + 73 = 169 | 89 169 ; 169 - 89 = 80 | 80\n", None), (copied, (1,)))
    root = Thread(problem, "", "".join(text for text, _ in pieces), 0, "stop", pieces)
    assert not task.check(problem, task.answer(root.text))
    final = Parallel().final_text(task, problem, root)
    assert task.answer(final) == "((89 + 7) + 73) - 89" and task.check(problem, task.answer(final))
    assert final.startswith(root.text[:root.text.rindex("answer:")])  # only the answer line differs
    assert Parallel(transcribe=False).final_text(task, problem, root) == root.text
    garbled = replace(root, pieces=pieces[:2] + (("89 + 7 = 96 >\nanswer: 80\n", (1,)),))  # no direct path to read
    assert Parallel().final_text(task, problem, garbled) == garbled.text
