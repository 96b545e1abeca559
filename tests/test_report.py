"""The sweep report: rows measured on different problem sets never share a plot."""

from ponder.report import tokens_to_reach
from ponder.report.scaling import by_task, lines


def row(strategy, n, accuracy, tokens, budget=None, seed=0):
    return {"task": "countdown", "source": "test-unseen", "n": n, "seed": seed, "strategy": strategy,
            "reward": None, "budget": budget, "accuracy": accuracy, "tokens_per_problem": tokens}


def test_rows_are_grouped_by_problem_set():
    rows = [row("greedy", 24, 0.5, 900), row("greedy", 16, 0.4, 950), row("majority", 16, 0.6, 3000, 3800),
            row("greedy", 16, 0.3, 940, seed=1)]
    groups = by_task(rows)
    assert sorted(groups) == ["countdown (test-unseen, 16 problems)", "countdown (test-unseen, 16 problems, seed 1)",
                              "countdown (test-unseen, 24 problems)"]
    assert [r["strategy"] for r in groups["countdown (test-unseen, 16 problems)"]] == ["greedy", "majority"]


def test_tokens_to_reach_best_of_n():
    rows = [row("best-of-n", 16, 0.25, 500, 1000), row("best-of-n", 16, 0.5, 3900, 4000),
            row("best-of-n", 16, 0.375, 15000, 16000), row("auto", 16, 0.5, 900, 1000),
            row("greedy", 16, 0.4, 950)]
    goal, reach = tokens_to_reach(rows)
    assert goal == 0.5
    assert reach == {"auto": 900, "best-of-n": 3900, "greedy": None}
    assert list(lines(rows)["best-of-n"][i]["tokens_per_problem"] for i in range(3)) == [500, 3900, 15000]
