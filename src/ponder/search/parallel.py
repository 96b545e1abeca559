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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generator

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
    limits = {"nest": (0, 4), "max_threads": (1, 256)}

    def search(self, s: Search) -> Calls:
        if s.task.join_mark is None:
            raise UserError(f"{s.task.name} writes no threads: the parallel strategy needs a task that does (countdown, game24)")
        root = yield from self.thread(s, depth=0)
        s.steps = root.steps
        best = s.candidate(self.final_text(s.task, s.problem, root))
        s.trace.append(f"{root.threads} thread{'s' * (root.threads != 1)}; longest chain {root.steps} tokens")
        return s.result(best, [best], root.finish_reason,
                        note=f"{root.threads} threads, the longest chain {root.steps} sequential tokens.")

    def thread(self, s: Search, depth: int) -> Generator[Generate, list, Thread]:
        """One thread: decode until the join mark, start the threads it spawned and wait for them all,
        write their results into its context, go on; until it ends or runs out of room."""
        if depth < self.nest:
            s.ask_for("parallel")
        mark = s.task.join_mark
        text, steps, finish, copied = "", 0, "length", ""
        pieces: list[tuple[str, tuple[int, ...] | None]] = []
        spawned: list[Thread] = []
        while (room := s.room(text)) >= 1:
            params = SamplingParams(temperature=self.temperature, max_tokens=room, stop=(mark,),
                                    seed=s.seed * 7919 + s.calls)
            [[c]] = yield from s.generate([text], params)
            written = c.text + mark if c.stop == mark else c.text
            text, steps, finish = text + c.text, steps + len(c.token_ids), c.finish_reason
            pieces.append((written, tuple(c.token_ids)))
            if c.stop != mark:
                break
            subs = s.task.spawned(s.problem, text)[:self.max_threads] if s.style == "parallel" else []
            text += mark + "\n"
            if not subs:  # a join with nothing to wait for: the thread goes on
                pieces.append(("\n", None))
                continue
            s.trace.append(f"{'  ' * depth}{len(subs)} thread{'s' * (len(subs) != 1)} started: "
                           + " / ".join(spawn for spawn, _ in subs))
            children = [Search(sub, s.task, s.policy, None, self._share(s, len(subs)), s.seed * 1009 + k + 1)
                        for k, (_, sub) in enumerate(subs)]
            done = yield from together([self.thread(child, depth + 1) for child in children])
            for child in children:
                s.usage.add(child.usage)
            steps += max(t.steps for t in done)
            spawned += done
            results = "".join(s.task.joined(spawn, sub, t.text) + "\n" for (spawn, sub), t in zip(subs, done))
            text += results
            pieces.append(("\n" + results, None))
            s.trace.append(f"{'  ' * depth}joined: " + " / ".join(results.splitlines()))
            copied = (s.task.copied(results) or "") if self.copy else ""
            if copied:
                text += copied
                pieces.append((copied, None))
                s.trace.append(f"{'  ' * depth}copied: " + " / ".join(copied.splitlines()))
        return Thread(s.problem, s.prompt, text, steps, finish, tuple(pieces), tuple(spawned), copied)

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


__all__ = ["Parallel", "Thread"]
