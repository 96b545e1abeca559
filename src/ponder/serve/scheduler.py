"""The engine thread: every request's searches advance together, one batched policy call a round.

A strategy's ``search`` is a generator that yields the policy calls it needs (``Generate``); ``drive``
in ``ponder.search.base`` runs a fixed set of them side by side. The server needs the same loop
over a set that changes: requests arrive, finish, time out or lose their client at any moment. So
one thread owns the policy, and each round it

1. admits waiting jobs (a request's searches, one per choice) while fewer than ``max_active`` run,
   and turns away waiting jobs that the forecast says cannot end before their deadline (429);
2. drops jobs whose client left or whose deadline passed (``generator.close()``: no more compute);
3. sends every pending call of every running search to the policy as one ``generate`` call
   (``generate_together``);
4. advances each search with its completions, and posts what happened to its job's event queue:
   new lines of the search's trace (what it tried, votes so far), then its result (the events are
   the dataclasses ``TraceLine``, ``UnitDone``, ``JobEnded`` and ``JobFailed``).

Admission looks ahead: a job joins the queue only while the forecast (how fast jobs have been
leaving the batch, and how long jobs of its kind took once in) says it can end in time, so that an
overloaded server says "retry later" at once instead of timing out minutes later. Before a few jobs
have finished there is nothing to forecast from, and every job is taken up to ``max_queue``; the
queue is checked again every round as the forecast firms up.

Events go to the request's asyncio queue through ``loop.call_soon_threadsafe``; the thread never
blocks on a client. Reward models are called inside ``advance``, synchronously (they are cheap next
to the policy, and batching them across requests is left for later).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Callable

from ponder.errors import UserError
from ponder.search.base import Generate, generate_together
from ponder.serve.protocol import ApiError


class QueueFull(Exception):
    """No room for a job: ``max_queue`` jobs are in, or the queue ahead would keep it past its deadline."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after
        """Seconds after which the same request may find room (``Retry-After``)."""


def busy(message: str, retry_after: int) -> ApiError:
    """The 429 of an overloaded server, in OpenAI's form."""
    return ApiError(429, message, code="rate_limit_exceeded", kind="rate_limit_error",
                    headers={"Retry-After": str(retry_after)})


RECENT = 64
"""How many recent departures from the batch the forecast's rate is taken over."""


@dataclass(frozen=True)
class TraceLine:
    """A new line of a search's trace (what it tried, votes so far)."""

    unit: int
    line: str


@dataclass(frozen=True)
class UnitDone:
    """A search has ended with ``result`` (a ``SearchResult``, or a continuation's completions)."""

    unit: int
    result: Any


@dataclass(frozen=True)
class JobEnded:
    """Every search of the job has ended: the last event."""


@dataclass(frozen=True)
class JobFailed:
    """The job failed or was turned away: the last event, in place of the rest."""

    error: ApiError


Event = TraceLine | UnitDone | JobEnded | JobFailed


@dataclass
class Job:
    """One request's work: its searches (generators), where its events go, and when it must end.

    Events, in order: a ``TraceLine`` for each new line of a search's trace, a ``UnitDone`` when a
    search ends, then ``JobEnded``; or ``JobFailed`` in place of the rest."""

    units: list
    """Generators yielding ``Generate`` and returning a result (a ``SearchResult`` or completions)."""
    post: Callable[[Event], None]
    """Delivers an event to the request (thread-safe)."""
    deadline: float
    """The scheduler's clock (``time.monotonic()``) after which the job is dropped with a timeout error."""
    traces: list = field(default_factory=list)
    """Each unit's ``Search.trace`` list (or None), to stream its new lines."""
    cancelled: bool = False
    """Set by the request when its client has gone: the job is dropped at the next round."""
    results: dict = field(default_factory=dict)
    sent: list[int] = field(default_factory=list)
    """Trace lines already posted, per unit."""
    started: float = 0.0
    """The scheduler's clock at admission."""
    kind: str = ""
    """What sort of work this is (jobs of one kind take about as long): for the forecast."""


class Scheduler:
    """The one thread that drives ``policy.generate`` for every request (see the module docstring)."""

    def __init__(self, policy, max_active: int = 16, max_queue: int = 256, clock: Callable[[], float] = time.monotonic):
        self.policy, self.clock = policy, clock
        self.max_active, self.max_queue = max_active, max_queue
        self.waiting: deque[Job] = deque()
        self.active: list[Job] = []
        self.metrics: Counter = Counter()
        """Counters for /metrics: generate_calls, batched_prompts, batched_jobs, completion_tokens, cancelled,
        timed_out, shed."""
        self.seconds = 1.0
        """A running mean of how long a finished job took in the batch, any kind."""
        self._took: dict[str, float] = {}  # kind -> running mean of seconds in the batch
        self._left: deque[float] = deque(maxlen=RECENT)  # when recent jobs left the batch
        self._calls: dict[tuple[int, int], Generate] = {}  # (job id, unit) -> the call it waits on
        self._wake = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="ponder-scheduler", daemon=True)

    def start(self) -> "Scheduler":
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._wake:
            self._stop = True
            self._wake.notify()
        self._thread.join(timeout=5)

    # -- called from the server's event loop

    def submit(self, job: Job) -> None:
        """Queue a job, or raise ``QueueFull`` when ``max_queue`` jobs are already in or the forecast
        says it would not end before its deadline."""
        with self._wake:
            if len(self.waiting) + len(self.active) >= self.max_queue:
                raise QueueFull(f"the server is busy ({self.max_queue} requests in); retry in a moment",
                                clamp(self.seconds))
            now = self.clock()
            eta = self.forecast(len(self.waiting), job.kind, now)
            if eta is not None and now + eta > job.deadline:
                raise QueueFull(*self._too_late(job, eta, now))
            job.sent = [0] * len(job.units)
            self.waiting.append(job)
            self._wake.notify()

    def cancel(self, job: Job) -> None:
        with self._wake:
            job.cancelled = True
            self._wake.notify()

    def forecast(self, ahead: int, kind: str, now: float) -> float | None:
        """Seconds from ``now`` until a job of ``kind`` with ``ahead`` jobs queued before it would end:
        the wait for a place in the batch (one frees up at the rate jobs have lately been leaving it),
        then the time its kind has taken there. None until a few jobs have left: nothing to go on."""
        if len(self._left) < 3:
            return None
        wait = 0.0
        if ahead or len(self.active) >= self.max_active:
            wait = (ahead + 1) * max(now - self._left[0], 1e-3) / len(self._left)
        return wait + self._took.get(kind, self.seconds)

    def _too_late(self, job: Job, eta: float, now: float) -> tuple[str, int]:
        """(message, Retry-After) for a job that would end ``eta`` seconds from now, past its deadline."""
        limit = job.deadline - now
        return (f"the server is too busy to answer within its time limit: this request would end in about "
                f"{eta:.0f} s, and {limit:.0f} s are left to it; retry later", clamp(eta - limit))

    @property
    def load(self) -> tuple[int, int]:
        """(active jobs, waiting jobs)."""
        return len(self.active), len(self.waiting)

    # -- the thread

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._stop and not self.waiting and not self._calls and not self._dropping():
                    self._wake.wait(timeout=1.0)
                if self._stop:
                    return
                admitted = []
                while self.waiting and len(self.active) < self.max_active:
                    job = self.waiting.popleft()
                    job.started = self.clock()
                    self.active.append(job)
                    admitted.append(job)
                turned_away = self._shed()
            for job, error in turned_away:
                job.post(JobFailed(error))
            for job in admitted:
                for u in range(len(job.units)):
                    self._advance(job, u, None)
            self._drop()
            self._round()

    def _shed(self) -> list[tuple[Job, ApiError]]:
        """Take out of the queue the jobs the forecast says cannot end in time (before any compute is
        spent on them), each with the 429 to send; the rest keep their order."""
        now, kept, shed = self.clock(), deque(), []
        for job in self.waiting:
            eta = self.forecast(len(kept), job.kind, now)
            if eta is not None and now + eta > job.deadline:
                shed.append((job, busy(*self._too_late(job, eta, now))))
            else:
                kept.append(job)
        if shed:
            self.metrics["shed"] += len(shed)
            self.waiting = kept
        return shed

    def _dropping(self) -> bool:
        now = self.clock()
        return any(j.cancelled or now > j.deadline for j in self.active)

    def _drop(self) -> None:
        """Close the searches of jobs whose client left or whose time ran out."""
        now = self.clock()
        for job in list(self.active):
            if job.cancelled:
                self.metrics["cancelled"] += 1
                self._finish(job, None)
            elif now > job.deadline:
                self.metrics["timed_out"] += 1
                self._finish(job, JobFailed(ApiError(504, "the request ran past the server's time limit (--timeout)",
                                                     kind="server_error")))

    def _round(self) -> None:
        """One batched policy call for every search waiting on one."""
        calls = sorted(self._calls.items(), key=lambda kv: kv[0])
        if not calls:
            return
        self._calls.clear()
        self.metrics["generate_calls"] += 1
        self.metrics["batched_prompts"] += sum(len(call.prompts) for _, call in calls)
        self.metrics["batched_jobs"] += len({key[0] for key, _ in calls})
        try:
            replies = generate_together(self.policy, calls)
        except Exception:  # one job's call may have failed them all: each job's calls again, alone
            replies = self._one_job_at_a_time(calls)
        self.metrics["completion_tokens"] += sum(len(c.token_ids) for _, rows in replies for row in rows for c in row)
        by_id = {id(j): j for j in self.active}
        for (jid, u), reply in replies:
            if jid in by_id and by_id[jid] in self.active:
                self._advance(by_id[jid], u, reply)

    def _one_job_at_a_time(self, calls: list) -> list:
        """The replies to ``calls`` with each job's calls sent on their own, after a batched call
        failed: a job whose own calls fail (an upstream's refusal in proxy mode: 502; anything else:
        500) ends with that error, and the other jobs go on as if nothing had happened."""
        by_job: dict[int, list] = {}
        for key, call in calls:
            by_job.setdefault(key[0], []).append((key, call))
        jobs = {id(j): j for j in self.active}
        replies = []
        for jid, mine in by_job.items():
            self.metrics["generate_calls"] += 1
            try:
                replies += generate_together(self.policy, mine)
            except Exception as e:
                status = 502 if isinstance(e, UserError) else 500
                if jid in jobs:
                    self._finish(jobs[jid], JobFailed(ApiError(status, f"the model failed: {e}", kind="server_error")))
        return replies

    def _advance(self, job: Job, u: int, reply: Any) -> None:
        try:
            call = job.units[u].send(reply)
        except StopIteration as done:
            self._post_trace(job, u)
            job.results[u] = done.value
            job.post(UnitDone(u, done.value))
            if len(job.results) == len(job.units):
                self._finish(job, JobEnded())
            return
        except UserError as e:
            self._finish(job, JobFailed(ApiError(400, str(e))))
            return
        except Exception as e:  # a bug in a search: this request fails, the server lives on
            self._finish(job, JobFailed(ApiError(500, f"the search failed: {type(e).__name__}: {e}",
                                                 kind="server_error")))
            return
        self._calls[(id(job), u)] = call
        self._post_trace(job, u)

    def _post_trace(self, job: Job, u: int) -> None:
        trace = job.traces[u] if u < len(job.traces) else None
        if trace is None:
            return
        for line in trace[job.sent[u]:]:
            job.post(TraceLine(u, line))
        job.sent[u] = len(trace)

    def _finish(self, job: Job, event: Event | None) -> None:
        """Take a job out of the batch, closing any search still running, and post its last event."""
        for u, unit in enumerate(job.units):
            self._calls.pop((id(job), u), None)
            if u not in job.results:
                unit.close()
        now = self.clock()
        with self._wake:
            if job in self.active:
                self.active.remove(job)
                self._left.append(now)
        if isinstance(event, JobEnded):
            took = now - job.started
            self.seconds = 0.8 * self.seconds + 0.2 * took
            self._took[job.kind] = 0.8 * self._took[job.kind] + 0.2 * took if job.kind in self._took else took
        if event is not None:
            job.post(event)


def clamp(seconds: float) -> int:
    """A ``Retry-After`` in whole seconds, from 1 to 600."""
    return int(min(600, max(1, round(seconds))))
