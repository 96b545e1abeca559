"""The request bodies as pydantic models: the schema /docs and /openapi.json show.

They describe; ``protocol.py`` and ``responses.py`` check (so that every refusal comes back in
OpenAI's error format, naming the field). ``test_serve`` holds the two to one list of fields.
"""

from __future__ import annotations

from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from ponder.search.effort import EFFORTS

Effort = Literal[tuple(EFFORTS)]  # type: ignore[valid-type]


class Body(BaseModel):
    model_config = ConfigDict(extra="allow")


class Search(Body):
    """ponder's own fields: what the search may be, beside the effort level."""

    strategy: str | None = Field(None, description="a strategy by name (`ponder strategies` lists them); "
                                                   "overrides the effort's", examples=["best-first"])
    budget: int | None = Field(None, ge=1, description="most thinking tokens: the policy's plus the reward models'")
    reward: str | None = Field(None, description="reward model: orm, prm, genrm, genrm-cot, critic")
    samples: int | None = Field(None, ge=1, le=256, description="the strategy's samples (its n)")
    strategy_options: dict | None = Field(None, description="any other field of the strategy, e.g. {\"width\": 4}")
    include_reasoning: bool = Field(False, description="return the whole hidden reasoning, not only its summary")
    include_search: bool = Field(False, description="add the explorer's view of each search (its tree, samples "
                                                    "or lines) to the response's ponder object")
    seed: int = Field(0, ge=0, description="seed of the search's samples")


class Message(Body):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Union[str, list[dict]] = Field(description="text, or content parts ({type: text, text})")


class ChatCompletionBody(Search):
    """POST /v1/chat/completions: the last user message is the problem."""

    model: str | None = Field(None, description="the served model, or it on a task: nano-v2:game24",
                              examples=["nano-v2"])
    messages: list[Message] = Field(examples=[[{"role": "user", "content": "Make 66 from 25, 3, 7 and 10"}]])
    reasoning_effort: Effort | None = Field(None, description="none and minimal: the least thinking the task "
                                                              "allows; up to xhigh; auto: as the problem needs")
    max_completion_tokens: int | None = Field(None, ge=1, description="cap on thinking tokens (reasoning models' name)")
    max_tokens: int | None = Field(None, ge=1, description="the same cap, by its older name")
    n: int = Field(1, ge=1, le=8, description="answers, each from its own search")
    stop: Union[str, list[str], None] = None
    temperature: float | None = Field(None, ge=0, le=2, description="of the strategy's samples, where it draws any")
    stream: bool = False
    stream_options: dict | None = Field(None, description="{\"include_usage\": true} for a last chunk with usage")


class Reasoning(Body):
    effort: Effort | None = None
    summary: Literal["auto", "concise", "detailed"] | None = Field(
        None, description="concise: the summary; detailed and auto: what the search did, then the summary")


class ResponsesBody(Search):
    """POST /v1/responses: stateless; the last user message of input is the problem."""

    model: str | None = Field(None, examples=["nano-v2"])
    input: Union[str, list[dict]] = Field(description="a string, or message items (reasoning items are skipped)",
                                          examples=["Game of 24: 4 7 8 8"])
    instructions: str | None = None
    reasoning: Reasoning | None = Field(None, examples=[{"effort": "low", "summary": "auto"}])
    max_output_tokens: int | None = Field(None, ge=1, description="cap on thinking tokens; reached: status incomplete")
    stream: bool = False
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = None
    metadata: dict | None = None
    include: list[Literal["reasoning.encrypted_content"]] | None = None
    store: Literal[False] | None = Field(None, description="ponder keeps no responses: false or left out")


class CompletionBody(Body):
    """POST /v1/completions: the policy continues each prompt, no search."""

    model: str | None = None
    prompt: Union[str, list[int], list[str], list[list[int]]] = Field(examples=["game24 4 7 8 8 -> 24\n"])
    max_tokens: int = Field(16, ge=0, description="0 only with echo: score the prompt alone")
    n: int = Field(1, ge=1, le=64)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    top_k: int = Field(0, ge=0)
    stop: Union[str, list[str], None] = None
    seed: int | None = None
    logprobs: int | None = Field(None, ge=0, le=1, description="the token's logprob and the most likely token's")
    echo: bool = Field(False, description="start each text with its prompt (with logprobs: every prompt token scored)")
    stream: bool = False
    stream_options: dict | None = None


class TokenizeBody(Body):
    prompt: str
    add_special_tokens: bool = True


class DetokenizeBody(Body):
    tokens: list[int]


BODIES = {"/v1/chat/completions": ChatCompletionBody, "/v1/responses": ResponsesBody, "/v1/completions": CompletionBody,
          "/tokenize": TokenizeBody, "/detokenize": DetokenizeBody}
"""The body model of each route that takes one."""


def request_body(model: type[BaseModel]) -> dict:
    """A route's ``openapi_extra``: its body is ``model`` (whose schema ``schemas`` adds)."""
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}


def schemas() -> dict:
    """Every body model's JSON schema and those it refers to, for the OpenAPI document's components."""
    out = {}
    for model in BODIES.values():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return out


__all__ = ["BODIES", "request_body", "schemas"]
