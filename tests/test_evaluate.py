"""``evaluate``: rows written as problems finish, in the problems' order."""

import json
from dataclasses import dataclass

from ponder.evaluate import evaluate
from ponder.search.base import Generate, Search, Strategy
from ponder.tasks import get_task
from ponder.types import Completion, SamplingParams


@dataclass
class Rounds(Strategy):
    """Problem i (by its position) thinks for ``rounds[i]`` policy calls, then answers what the policy wrote."""

    name = "rounds"
    rounds: tuple = ()

    def search(self, s: Search):
        text = ""
        for _ in range(self.rounds[int(s.problem.id.rsplit("-", 1)[-1]) % len(self.rounds)]):
            [[c]] = yield Generate((s.prompt,), (SamplingParams(max_tokens=4),))
            text = c.text
        return s.result(s.candidate(text), [s.candidate(text)])


class Watching:
    """A policy that answers "answer: 1" and notes, at each call, how many rows the output file holds."""

    name, max_context, meta = "watching", 512, {}

    def __init__(self, path):
        self.path, self.rows_seen = path, []

    def generate(self, prompts, params):
        self.rows_seen.append(len(self.path.read_text().splitlines()) if self.path.exists() else 0)
        return [[Completion("answer: 1", (1,), "stop", 1)] for _ in prompts]

    def count_tokens(self, text):
        return len(text.split())


def test_rows_are_written_as_problems_finish_and_in_order(tmp_path):
    task = get_task("countdown-3")
    problems = task.problems("val", 6)
    problems = [type(p)(**{**p.__dict__, "id": f"p-{i}"}) for i, p in enumerate(problems)]
    out = tmp_path / "rows.jsonl"
    policy = Watching(out)
    report = evaluate(task, problems, policy, Rounds(rounds=(1, 2, 3, 1, 1, 1)), output=out)
    assert report.n == 6
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == [p.id for p in problems]
    # after the first round problems 0, 3, 4 and 5 are done, but only 0 comes before every unfinished one:
    # its row is in the file when the second call is made, problem 1's when the third is (not all six at
    # the end of the chunk of 256)
    assert policy.rows_seen == [0, 1, 2]
