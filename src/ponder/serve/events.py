"""What a request's handler waits on: its job's events, as they come, with keep-alives for streams.

The scheduler thread posts a job's events (``TraceLine``, ``UnitDone``, ``JobEnded``, ``JobFailed``)
to the request's asyncio queue; these read them, noticing when the client has gone (the job is then
cancelled) and, for a stream, filling silences with a keep-alive comment.
"""

from __future__ import annotations

import asyncio
import time

from ponder.serve.scheduler import Job, JobEnded, JobFailed, UnitDone


IDLE = object()
"""What ``next_event`` returns when ``idle`` seconds pass with no event."""
PING = ": keep-alive\n\n"
"""A server-sent comment: clients skip it, the connection stays alive."""


async def next_event(queue: asyncio.Queue, request, idle: float | None = None):
    """The job's next event; None once the client has gone; ``IDLE`` after ``idle`` seconds without one."""
    waited = 0.0
    while True:
        try:
            return await asyncio.wait_for(queue.get(), timeout=0.5)
        except asyncio.TimeoutError:
            if await request.is_disconnected():
                return None
            waited += 0.5
            if idle is not None and waited >= idle:
                return IDLE


async def job_events(server, queue: asyncio.Queue, request):
    """A streamed job's events as they come, with a keep-alive comment (``PING``) for every
    ``--keepalive`` seconds of silence; it ends when the client has gone."""
    while True:
        event = await next_event(queue, request, server.cfg.keepalive)
        if event is None:
            return
        yield PING if event is IDLE else event


async def results_of(server, job: Job, queue: asyncio.Queue, request, units: int) -> list | None:
    """Each unit's result, in order, once the job has ended; None when the client went away first.
    An error event is raised as an ``ApiError``; a job left unfinished is cancelled."""
    results = {}
    try:
        while True:
            match await next_event(queue, request):
                case None:
                    return None
                case JobFailed(error):
                    raise error
                case UnitDone(unit, result):
                    results[unit] = result
                case JobEnded():
                    return [results[i] for i in range(units)]
    finally:
        if len(results) < units:
            server.scheduler.cancel(job)


class FirstDelta:
    """Call it as each reasoning delta goes out: the first call times it (``ponder_first_reasoning_seconds``)."""

    def __init__(self, server, request, route: str):
        self.histogram, self.arrived = server.stats.first_reasoning.labels(route), request.state.arrived
        self.done = False

    def __call__(self) -> None:
        if not self.done:
            self.done = True
            self.histogram.observe(time.perf_counter() - self.arrived)


__all__ = ["FirstDelta", "PING", "job_events", "next_event", "results_of"]
