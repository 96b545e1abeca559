"""What the explorer shows of a search: one JSON object, whatever the strategy.

``view(result, task, problem)`` reads a ``SearchResult`` three ways, by what the search was:

* ``tree``: a tree search's explored tree (``SearchResult.tree``: each node's step, value, prior,
  visits, whether it ends the reasoning and with what answer, whether it is on the chosen line);
* ``votes``: the samples of a vote or best-of-n, each with its answer, score and check by rule,
  and the tally of answers;
* ``chain``: one chain of thought, its lines marked by the task (``Task.mark_lines``: the
  solution's steps, dead ends, backtracks, the answer).

The playground asks the server for it (``include_search``); ``ponder solve --json --show-search``
and ``ponder eval --output F --save-search`` write it, so the explorer opens saved rows too.
"""

from __future__ import annotations

from collections import Counter

from ponder.search.vote import key


def view(result, task, problem) -> dict:
    """The explorer's object for ``result``, a search of ``problem`` on ``task``."""
    checkable = not task.free_text or bool(problem.reference)
    out = {"problem": problem.to_json(), "prompt": task.prompt(problem).strip(), "answer": result.answer,
           "correct": task.check(problem, result.answer) if checkable else None,
           "summary": result.reasoning_summary, "trace": list(result.trace), "usage": result.usage.to_json()}
    if result.tree is not None:
        return {**out, "kind": "tree", "tree": result.tree}
    if len(result.candidates) > 1:
        samples = [{"answer": c.answer, "score": c.score, "chosen": c.text == result.text and c.answer == result.answer,
                    "correct": task.check(problem, c.answer) if checkable and c.answer else None,
                    "lines": lines(task, problem, c.text)} for c in result.candidates]
        tally = Counter(key(c.answer) for c in result.candidates if c.answer is not None)
        names = {key(c.answer): c.answer for c in result.candidates if c.answer is not None}
        return {**out, "kind": "votes", "samples": samples,
                "tally": [{"answer": names[k], "votes": v} for k, v in tally.most_common()]}
    return {**out, "kind": "chain", "lines": lines(task, problem, result.text)}


def lines(task, problem, text: str) -> list[dict]:
    """A completion's lines, each with the task's mark (``Task.mark_lines``)."""
    rows = text.rstrip("\n").split("\n") if text else []
    marks = task.mark_lines(problem, "\n".join(rows)) if rows else []
    return [{"text": line, "mark": mark} for line, mark in zip(rows, marks)]


__all__ = ["view"]
