"""``parallel``: the policy hands sub-problems to threads that search side by side, then joins
their results (seed 002's guess; Adaptive Parallel Reasoning, Pan et al. 2025).

A thread is a search the policy writes in a context of its own. The root thread, prompted for the
``parallel`` style, reasons as usual; where it hands work out it writes one spawn line per
sub-problem (the task's notation; Countdown: a step ending in ``>``) and then the join mark
(``Task.join_mark``, ``<``), where its decoding stops. Each spawned sub-problem (``Task.spawned``)
becomes a child thread, prompted as a problem of its own: in the ``parallel`` style again while
``nest`` allows and the policy writes it, else in the task's serial search. The children of every
open spawn decode together, one batched policy call a round (``together``), and a child may spawn
in turn. When a spawn's children have all finished, the runtime writes each one's result on a line
of the parent's context (``Task.joined``: the path its reasoning ends on, or that it found none:
read from its text, never checked), and the parent decodes on from what its children found.

Every thread's tokens count in the root's ``Usage``, and its latency is the longest chain of
sequential decoding steps (``SearchResult.steps``): a thread's own calls one after another, and at
each join the longest of its children's chains. The contexts stay short: each thread holds its
own problem, what it wrote, and one line per child.

With ``chunk``, sibling threads decode a few tokens a call instead of each to its join mark, so the
runtime can act between calls: the spawn's budget is a pool its threads draw on as they go (one that
finishes early leaves the rest to those still running), and with ``race`` the siblings stop as soon
as one of them has found a path (the only result the root goes on from).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generator

from ponder.backends.base import spliced
from ponder.errors import UserError
from ponder.search.base import Calls, Generate, Search, Strategy, register, together
from ponder.types import Problem, SamplingParams


@dataclass(frozen=True)
class Thread:
    """What one thread wrote and what it took."""

    problem: Problem
    prompt: str
    text: str
    steps: int
    """Its longest chain of sequential decoding steps, its children's included."""
    finish_reason: str
    pieces: tuple[tuple[str, tuple[int, ...] | None], ...] = ()
    """``text`` piece by piece: (text, the token ids the policy sampled for it), or (text, None)
    for what the runtime wrote (the newline after a join mark and the results under it). What
    GRPO trains on (``train.rollout.thread_rollouts``)."""
    children: tuple["Thread", ...] = ()
    """The threads it spawned, in order."""
    copied: str = ""
    """The path the runtime copied out after its last join (``Parallel.copy``); "" for none."""

    raced: bool = False
    """Stopped before it ended: a sibling had found a path (``Parallel.race``)."""

    def all_threads(self) -> list["Thread"]:
        """Its children, theirs, and so on (itself not included), depth first."""
        return [t for child in self.children for t in (child, *child.all_threads())]

    @property
    def threads(self) -> int:
        """Threads it spawned, nested ones included."""
        return len(self.all_threads())


@register
@dataclass
class Parallel(Strategy):
    """Threads: the policy hands sub-problems to threads decoded side by side and joins their results."""

    name = "parallel"
    temperature: float = 0.0
    nest: int = 1
    """How many levels of threads may spawn: 1, the root alone; 0, no threads (the serial search)."""
    max_threads: int = 32
    """Most threads one spawn may start (the rest of its spawn lines are read as not handed out)."""
    transcribe: bool = True
    """Replace the answer the root writes after the path it copied out by the one those steps spell
    out (``Task.written_answer``: a transcription, nothing checked), as tree search does: the search
    is judged on the path its threads found and the root chose, not on the policy's copying of
    steps into an expression."""
    copy: bool = True
    """After a join whose results include a path found, the runtime writes that path out in the
    thread's context (``Task.copied``: the first, a step a line, as the thread was trained to copy
    it) and the thread decodes on from there (its answer). The policy chooses the moves to hand out
    and its threads search them; copying a long line out step by step, where a small policy slips
    most (``benchmarks/thread_failures.py``), is left to the runtime, as the join is. The copied
    lines are the runtime's, like the results above them: read, not generated, so in no ``Usage``.
    False: the policy copies the path out itself."""
    chunk: int = 0
    """Tokens a thread decodes a call while siblings of its spawn still run (0: each decodes to its
    join mark in one call, and a spawn's budget is shared out equally when it starts). With chunks,
    siblings draw on their spawn's budget as they go: a thread that finishes leaves what it did not
    spend to those still running. A lone thread decodes on in one call."""
    race: bool = False
    """With ``chunk``: once a thread of a spawn has found a path (its own claim, as the join reads
    it), its siblings stop at their next call, and their results read as none found. The root goes
    on from the first path found, so what they would have written is spent for nothing; stopping
    them saves tokens and the wait for the slowest thread."""
    reuse: bool = True
    """A state the thread hands out again (a small policy loses track of what it handed out) is not
    searched again: its result is read from the thread that searched it, on the same prompt, before
    (at temperature 0, what a new thread would write). Its tokens are not spent again, nor counted."""
    limits = {"nest": (0, 4), "max_threads": (1, 256), "chunk": (0, 4096)}

    def search(self, s: Search) -> Calls:
        if s.task.join_mark is None:
            raise UserError(f"{s.task.name} writes no threads: the parallel strategy needs a task that does (countdown, game24)")
        root = yield from self.thread(s, depth=0)
        s.steps = root.steps
        best = s.candidate(self.final_text(s.task, s.problem, root))
        s.trace.append(f"{root.threads} thread{'s' * (root.threads != 1)}; longest chain {root.steps} tokens")
        return s.result(best, [best], root.finish_reason,
                        note=f"{root.threads} threads, the longest chain {root.steps} sequential tokens.")

    def thread(self, s: Search, depth: int, spawn: "Spawn | None" = None) -> Generator[Generate, list, Thread]:
        """One thread: decode until the join mark, start the threads it spawned and wait for them all,
        write their results into its context, go on; until it ends, runs out of room, or (``race``)
        a sibling of its ``spawn`` has found a path."""
        if depth < self.nest:
            s.ask_for("parallel")
        mark = s.task.join_mark
        text, steps, finish, copied, raced = "", 0, "length", "", False
        pieces: list[tuple[str, tuple[int, ...] | None]] = []
        spawned: list[Thread] = []
        ran: dict = {}  # a thread's key (``reuse``: its prompt) -> the thread, where it ended on its own
        while (room := self._room(s, text, spawn)) >= 1:
            if self.race and spawn is not None and spawn.found:
                finish, raced = "stop", True
                break
            asked = min(room, self.chunk) if self.chunk and spawn is not None and spawn.running > 1 else room
            params = SamplingParams(temperature=self.temperature, max_tokens=asked, stop=(mark,),
                                    seed=s.seed * 7919 + s.calls)
            if spawn is not None:
                spawn.asked += asked
            [[c]] = yield from s.generate([text], params)
            if spawn is not None:
                spawn.asked -= asked
            whole = spliced(s.policy, text, c.text)
            written = whole[len(text):] + (mark if c.stop == mark else "")
            text, steps, finish = whole, steps + len(c.token_ids), c.finish_reason
            pieces.append((written, tuple(c.token_ids)))
            if c.stop != mark:
                if c.finish_reason == "length" and asked < room:  # a chunk: decode on
                    continue
                break
            subs = s.task.spawned(s.problem, text)[:self.max_threads] if s.style == "parallel" else []
            text += mark + "\n"
            if not subs:  # a join with nothing to wait for: the thread goes on
                pieces.append(("\n", None))
                continue
            s.trace.append(f"{'  ' * depth}{len(subs)} thread{'s' * (len(subs) != 1)} started: "
                           + " / ".join(step for step, _ in subs))
            children = [Search(sub, s.task, s.policy, None, None, s.seed * 1009 + k + 1)
                        for k, (_, sub) in enumerate(subs)]
            keys = [child.prompt if self.reuse else object() for child in children]
            todo: dict = {}  # key -> (spawn line, thread's search): the threads to run, each state once
            for key, (step, _), child in zip(keys, subs, children):
                if key not in ran:
                    todo.setdefault(key, (step, child))
            for _, child in todo.values():
                child.budget = None if self.chunk else self._share(s, len(todo))
            sharing = Spawn([child for _, child in todo.values()], [step for step, _ in todo.values()], s.left)
            done = yield from together([self.thread(child, depth + 1, sharing) for _, child in todo.values()])
            for _, child in todo.values():
                s.usage.add(child.usage)
            now = ran | dict(zip(todo, done))
            ran.update((key, t) for key, t in zip(todo, done) if t.finish_reason == "stop" and not t.raced)
            steps += max((t.steps for t in done), default=0)
            spawned += done
            results = "".join(s.task.joined(step, sub, now[key].text) + "\n" for (step, sub), key in zip(subs, keys))
            text += results
            pieces.append(("\n" + results, None))
            stopped, reused = sum(t.raced for t in done), len(subs) - len(todo)
            s.trace.append(f"{'  ' * depth}joined: " + " / ".join(results.splitlines())
                           + (f" ({reused} read from a thread run before)" if reused else "")
                           + (f" ({stopped} stopped once a path was found)" if stopped else ""))
            copied = (s.task.copied(results) or "") if self.copy else ""
            if copied:
                text += copied
                pieces.append((copied, None))
                s.trace.append(f"{'  ' * depth}copied: " + " / ".join(copied.splitlines()))
        if spawn is not None:
            spawn.ended(s, text)
        return Thread(s.problem, s.prompt, text, steps, finish, tuple(pieces), tuple(spawned), copied, raced)

    def _room(self, s: Search, text: str, spawn: "Spawn | None") -> int:
        """What a thread may write now: its context's room, within its budget; a thread decoded in
        chunks, within its share of what its spawn's pool has not given out."""
        if self.chunk and spawn is not None:
            share = spawn.share()
            s.budget = None if share == float("inf") else s.spent + int(share)
        return s.room(text)

    def final_text(self, task, problem: Problem, root: Thread) -> str:
        """The root's text, its answer line transcribed from the steps after its last join (its own,
        or the runtime's ``copy``) where the policy answered after a direct path; else as written."""
        written = root.text
        last, sampled = root.pieces[-1] if root.pieces else ("", None)
        if not self.transcribe or sampled is None or task.answer(last) is None:
            return written
        transcribed = task.written_answer(problem, root.copied + last)
        if transcribed is None:
            return written
        lines = written.split("\n")
        last_answer = max(i for i, line in enumerate(lines) if task.answer(line) is not None)
        lines[last_answer] = transcribed
        return "\n".join(lines)

    @staticmethod
    def _share(s: Search, children: int) -> int | None:
        """Each child's budget: an equal share of what the parent has left."""
        return None if s.budget is None else max(1, int(s.left // children))


class Spawn:
    """The threads of one spawn while they run (``Parallel.chunk``): the budget they draw on, what
    is asked of it by calls under way, how many still run, whether one has found a path."""

    def __init__(self, threads: list[Search], steps: list[str], budget: float):
        self.threads, self.steps, self.budget = threads, steps, budget
        self.asked = 0
        """Tokens the calls under way may still write (not yet in any thread's ``Usage``)."""
        self.running = len(threads)
        self.found = False

    def share(self) -> float:
        """A running thread's share of what is left: equal among those still running, so that what a
        finished one did not spend goes to the others; never more than is left."""
        left = self.budget - sum(t.spent for t in self.threads) - self.asked
        return max(0.0, left / self.running)

    def ended(self, s: Search, text: str) -> None:
        """``s``'s thread has ended with ``text``: one fewer running; a path found ends the race."""
        self.running -= 1
        step = self.steps[self.threads.index(s)]
        if s.task.copied(s.task.joined(step, s.problem, text)) is not None:
            self.found = True


__all__ = ["Parallel", "Spawn", "Thread"]
