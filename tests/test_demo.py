"""``ponder demo``'s second part: the seeds' guesses at how o1 thinks, at equal thinking tokens."""

import pytest

from ponder import demo
from ponder.backends.nano import NanoPolicy

pytestmark = pytest.mark.shipped(demo.THINKER, "prm")


def test_the_demo_gives_each_way_of_thinking_a_multiple_of_greedys_tokens(monkeypatch):
    curve = demo.CURVE[:3]  # greedy, then a vote and a tree search at 1x (4x: the same, four times the time)
    assert [(h, m) for h, _, m in curve] == [("one chain", None), ("votes", 1), ("tree search", 1)]
    monkeypatch.setattr(demo, "CURVE", curve)
    said: list[str] = []
    rows = demo.compare_hypotheses(NanoPolicy.load(demo.THINKER), 3, {}, say=said.append)
    greedy, vote, tree = rows
    assert greedy["strategy"] == "greedy" and greedy["budget"] is None and all(r["n"] == 3 for r in rows)
    for row in (vote, tree):
        assert abs(row["budget"] - greedy["tokens_per_problem"]) <= 1
        assert 0 < row["tokens_per_problem"] <= row["budget"]
    assert vote["strategy"] == "majority" and (tree["strategy"], tree["reward"]) == ("best-first", "prm")
    assert sum("McNemar" in line for line in said) == 1
