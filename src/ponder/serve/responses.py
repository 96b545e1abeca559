"""OpenAI's Responses API (``POST /v1/responses``) over the same searches as chat completions.

A request is read into the ``ChatRequest`` a chat completion makes (``parse_responses``): ``input``
(a string, or a list of message items whose last user message is the problem), ``reasoning.effort``
and ``max_output_tokens`` become ``reasoning_effort`` and the budget's cap, and ponder's own fields
(``strategy``, ``budget``, ``reward``, ``samples``, ``strategy_options``, ``include_reasoning``,
``seed``) ride beside them. ponder keeps no state: ``store: true``, ``previous_response_id`` and
``background`` are refused with a 400 that says so; reasoning items sent back as input are skipped
(the last user message is the whole problem).

A response has two output items, as a reasoning model's do: a ``reasoning`` item, whose ``summary``
holds what ``reasoning.summary`` asks for (``concise``: the summary of the reasoning; ``detailed``
or ``auto``: what the search did, line by line, then that summary; none: empty), and with
``include_reasoning`` the hidden reasoning itself as ``reasoning_text`` content; then a ``message``
item with the answer. ``usage.output_tokens_details.reasoning_tokens`` counts every thinking token,
as in chat. A streamed response sends the typed events (``Events``) in the order OpenAI's do.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field, replace

from ponder.serve.events import FirstDelta, job_events
from ponder.serve.protocol import ApiError, ChatRequest, answer_text, chat_usage, parse_chat
from ponder.serve.scheduler import JobFailed, TraceLine, UnitDone

SUMMARIES = ("auto", "concise", "detailed")
INCLUDES = ("reasoning.encrypted_content",)
"""The ``include`` values accepted. ponder keeps no state and reads no earlier reasoning back, so a
reasoning item carries no encrypted content: the value is accepted so that code written for
stateless use (``store: false``) runs, and it changes nothing."""

RENAMED = {"messages": "input", "reasoning_effort": "reasoning.effort", "max_completion_tokens": "max_output_tokens"}
"""The chat body's names of fields the Responses API names otherwise, for errors."""

PASSED = ("model", "temperature", "stream", "seed", "strategy", "budget", "reward", "samples", "strategy_options",
          "include_reasoning", "include_search")
"""Fields read as a chat completion reads them."""


@dataclass(frozen=True)
class ResponsesRequest:
    chat: ChatRequest
    """The search, as a chat completion with one choice asks for it."""
    summary: str | None = None
    """``reasoning.summary``: ``auto``, ``concise``, ``detailed`` or None (no summary)."""
    echo: dict = field(default_factory=dict)
    """Request fields a response repeats (``instructions``, ``metadata``, ``temperature``, ...)."""


def parse_responses(body: dict, default_effort: str, max_budget: int) -> ResponsesRequest:
    """Read a Responses API body; ``ApiError`` for what ponder does not do or a bad field."""
    for name, why in (("previous_response_id", "ponder keeps no state: send the whole conversation as input"),
                      ("conversation", "ponder keeps no state: send the whole conversation as input"),
                      ("prompt", "ponder keeps no stored prompts: send the prompt as input")):
        if body.get(name) is not None:
            raise ApiError(400, f"{name} is not supported: {why}", name)
    if body.get("store") is True:
        raise ApiError(400, "store must be false or left out: ponder keeps no responses (it is stateless)", "store")
    if body.get("background") is True:
        raise ApiError(400, "background must be false or left out: ponder answers while the request is open "
                            "(stream it to watch the reasoning)", "background")
    if body.get("tools"):
        raise ApiError(400, "tools are not supported: ponder's models answer puzzles and call no tools", "tools")
    fmt = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
    if isinstance(fmt, dict) and fmt.get("type", "text") != "text":
        raise ApiError(400, f"text.format {fmt.get('type')!r} is not supported: ponder answers in plain text",
                       "text.format")
    include = body.get("include") or []
    if not isinstance(include, list) or any(i not in INCLUDES for i in include):
        raise ApiError(400, f"include may list only {', '.join(INCLUDES)}, got {json.dumps(include)[:80]}", "include")
    reasoning = body.get("reasoning") or {}
    if not isinstance(reasoning, dict):
        raise ApiError(400, "reasoning must be an object such as {\"effort\": \"low\", \"summary\": \"auto\"}",
                       "reasoning")
    summary = reasoning.get("summary", reasoning.get("generate_summary"))
    if summary is not None and summary not in SUMMARIES:
        raise ApiError(400, f"reasoning.summary must be one of {', '.join(SUMMARIES)}, got {json.dumps(summary)}",
                       "reasoning.summary")
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise ApiError(400, "metadata must be an object of strings", "metadata")
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise ApiError(400, "instructions must be a string", "instructions")
    chat_body = {k: body[k] for k in PASSED if k in body}
    chat_body["messages"] = messages_of(body.get("input"))
    chat_body["reasoning_effort"] = reasoning.get("effort")
    chat_body["max_completion_tokens"] = body.get("max_output_tokens")
    try:
        chat = parse_chat(chat_body, default_effort, max_budget)
    except ApiError as e:
        raise renamed(e) from None
    echo = {"instructions": instructions, "metadata": metadata or {}, "max_output_tokens": chat.max_tokens,
            "temperature": body.get("temperature"), "top_p": body.get("top_p"),
            "reasoning": {"effort": chat.search.effort, "summary": summary}}
    return ResponsesRequest(replace(chat, include_usage=True), summary, echo)


def renamed(e: ApiError) -> ApiError:
    """A refusal of the chat request a Responses body became, in the Responses API's names."""
    message = e.message
    for old, new in RENAMED.items():
        message = message.replace(old, new)
    return ApiError(e.status, message, RENAMED.get(e.param, e.param), e.code, e.kind, e.headers)


def messages_of(items) -> list:
    """Chat messages from a Responses ``input``: a string is one user message; message items keep
    their role and text (``input_text`` and ``output_text`` parts); reasoning items are skipped."""
    if isinstance(items, str):
        return [{"role": "user", "content": items}]
    if not isinstance(items, list) or not items:
        raise ApiError(400, "input must be a string or a non-empty list of message items", "input")
    messages = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ApiError(400, f"input[{i}] must be an object", "input")
        kind = item.get("type", "message")
        if kind == "reasoning":
            continue
        if kind != "message":
            raise ApiError(400, f"input[{i}] is a {kind!r} item; ponder takes message items (and skips reasoning "
                                f"items)", "input")
        content = item.get("content")
        if isinstance(content, list):
            content = [{"type": "text", "text": p.get("text")} if isinstance(p, dict) and p.get("type") in
                       ("input_text", "output_text", "text") else p for p in content]
        messages.append({"role": item.get("role"), "content": content})
    return messages


# --------------------------------------------------------------------------- what a response says


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def start_line(info: dict) -> str:
    """What the search is about to do, in one line: the first words of a detailed summary."""
    return (f"Thinking with {info['strategy']}" + (f" and {info['reward']}" if info["reward"] else "")
            + f", within {info['budget']} tokens.\n")


def summary_parts(result, info: dict, summary: str | None) -> list[str]:
    """The texts of a reasoning item's summary parts for ``reasoning.summary`` = ``summary``."""
    if summary is None:
        return []
    if summary == "concise" or info.get("no_solution"):
        return [result.reasoning_summary]
    search = start_line(info) + "".join(line + "\n" for line in result.trace)
    return [search, result.reasoning_summary]


def responses_usage(results) -> dict:
    """Chat's usage (``chat_usage``) in the Responses API's names: every thinking token is an output
    and a reasoning token."""
    chat = chat_usage(results)
    return {"input_tokens": chat["prompt_tokens"], "input_tokens_details": chat["prompt_tokens_details"],
            "output_tokens": chat["completion_tokens"],
            "output_tokens_details": {"reasoning_tokens": chat["completion_tokens_details"]["reasoning_tokens"]},
            "total_tokens": chat["total_tokens"]}


@dataclass
class Reply:
    """One response's identity and what it repeats of its request: the object every event carries."""

    model: str
    req: ResponsesRequest
    id: str = field(default_factory=lambda: new_id("resp"))
    created_at: int = field(default_factory=lambda: int(time.time()))
    reasoning_id: str = field(default_factory=lambda: new_id("rs"))
    message_id: str = field(default_factory=lambda: new_id("msg"))

    def object(self, status: str = "in_progress", output: list | None = None, usage: dict | None = None,
               error: dict | None = None, incomplete: str | None = None, info: dict | None = None) -> dict:
        out = {"id": self.id, "object": "response", "created_at": self.created_at, "status": status,
               "model": self.model, "output": output or [], "usage": usage, "error": error,
               "incomplete_details": {"reason": incomplete} if incomplete else None,
               "parallel_tool_calls": False, "tool_choice": "none", "tools": [], "store": False,
               "text": {"format": {"type": "text"}}, "truncation": "disabled", "previous_response_id": None,
               **self.req.echo}
        if status in ("completed", "incomplete", "failed"):
            out["completed_at"] = int(time.time())
        if info is not None:
            out["ponder"] = info
        return out

    def reasoning_item(self, parts: list[str], text: str | None = None) -> dict:
        item = {"id": self.reasoning_id, "type": "reasoning",
                "summary": [{"type": "summary_text", "text": p} for p in parts]}
        if text is not None:
            item["content"] = [{"type": "reasoning_text", "text": text}]
        return item

    def message_item(self, text: str | None, status: str = "completed") -> dict:
        content = [] if text is None else [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
        return {"id": self.message_id, "type": "message", "role": "assistant", "status": status, "content": content}

    def finished(self, result, info: dict) -> dict:
        """The whole response object of a finished search."""
        reasoning = self.reasoning_item(summary_parts(result, info, self.req.summary),
                                        result.text if self.req.chat.include_reasoning else None)
        incomplete = "max_output_tokens" if result.finish_reason == "length" else None
        return self.object("incomplete" if incomplete else "completed",
                           [reasoning, self.message_item(answer_text(result))], responses_usage([result]),
                           incomplete=incomplete, info=info)


class Events:
    """Server-sent events of a streamed response, numbered in order (``sequence_number``)."""

    def __init__(self):
        self.sequence = 0

    def __call__(self, kind: str, **data) -> str:
        event = {"type": kind, "sequence_number": self.sequence, **data}
        self.sequence += 1
        return f"event: {kind}\ndata: {json.dumps(event)}\n\n"


async def stream_response(server, job, queue, resp: Reply, info: dict, request):
    """A response's typed events, in the order OpenAI's come: created; the reasoning item, whose
    summary (when asked for) streams what the search does as it does it, then the summary of its
    reasoning; the message item with the answer; completed (or incomplete) with the whole object."""
    ev, finished, summary = Events(), False, resp.req.summary
    detailed = summary in ("auto", "detailed") and not info.get("no_solution")
    streamed = start_line(info) if detailed else ""
    first = FirstDelta(server, request, "/v1/responses")
    try:
        yield ev("response.created", response=resp.object())
        yield ev("response.in_progress", response=resp.object())
        yield ev("response.output_item.added", output_index=0, item=resp.reasoning_item([]))
        at = {"item_id": resp.reasoning_id, "output_index": 0}
        if detailed:
            yield ev("response.reasoning_summary_part.added", **at, summary_index=0, part=summary_part(""))
            first()
            yield ev("response.reasoning_summary_text.delta", **at, summary_index=0, delta=streamed)
        result = None
        async for event in job_events(server, queue, request):
            match event:
                case str():
                    yield event
                case JobFailed(error):
                    finished = True
                    yield ev("error", code=error.code, message=error.message, param=error.param)
                    yield ev("response.failed", response=resp.object(
                        "failed", error={"code": error.code or error.kind, "message": error.message}, info=info))
                    return
                case TraceLine(_, line) if detailed:
                    streamed += line + "\n"
                    yield ev("response.reasoning_summary_text.delta", **at, summary_index=0, delta=line + "\n")
                case UnitDone(_, done):
                    result = done
                    break
        if result is None:  # the client left
            return
        parts = summary_parts(result, info, summary)
        if detailed:
            parts[0] = streamed  # what was sent, whatever the trace's last lines
        for i, text in enumerate(parts):
            if i or not detailed:
                yield ev("response.reasoning_summary_part.added", **at, summary_index=i, part=summary_part(""))
                first()
                yield ev("response.reasoning_summary_text.delta", **at, summary_index=i, delta=text)
            yield ev("response.reasoning_summary_text.done", **at, summary_index=i, text=text)
            yield ev("response.reasoning_summary_part.done", **at, summary_index=i, part=summary_part(text))
        full = result.text if resp.req.chat.include_reasoning else None
        if full is not None:
            yield ev("response.reasoning_text.delta", **at, content_index=0, delta=full)
            yield ev("response.reasoning_text.done", **at, content_index=0, text=full)
        yield ev("response.output_item.done", output_index=0, item=resp.reasoning_item(parts, full))
        answer = answer_text(result)
        at = {"item_id": resp.message_id, "output_index": 1}
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        yield ev("response.output_item.added", output_index=1, item=resp.message_item(None, "in_progress"))
        yield ev("response.content_part.added", **at, content_index=0, part=part)
        yield ev("response.output_text.delta", **at, content_index=0, delta=answer, logprobs=[])
        yield ev("response.output_text.done", **at, content_index=0, text=answer, logprobs=[])
        yield ev("response.content_part.done", **at, content_index=0, part={**part, "text": answer})
        yield ev("response.output_item.done", output_index=1, item=resp.message_item(answer))
        whole = resp.finished(result, info.of([result], resp.req.chat))
        whole["output"][0] = resp.reasoning_item(parts, full)
        finished = True
        yield ev("response.completed" if whole["status"] == "completed" else "response.incomplete", response=whole)
    finally:
        if not finished:
            server.scheduler.cancel(job)


def summary_part(text: str) -> dict:
    return {"type": "summary_text", "text": text}


__all__ = ["Events", "Reply", "stream_response", "ResponsesRequest", "parse_responses", "start_line", "summary_parts"]
