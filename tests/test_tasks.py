import json
import random
import re
from fractions import Fraction

import pytest

from ponder.errors import UserError
from ponder.model import Tokenizer
from ponder.tasks import WORDS as TASK_WORDS
from ponder.tasks import CountdownTask, Task, get_task, load_problems, save_problems, task_names
from ponder.tasks.base import parse_problem
from ponder.tasks.countdown.checker import check_steps
from ponder.tasks.countdown.notation import evaluate_expression, expression, parse_step
from ponder.tasks.countdown.rules import moves, solvable, solve
from ponder.train.vocab import nano_tokenizer
from ponder.types import Problem


def test_registry_lists_the_tasks():
    names = task_names()
    for name in ("countdown", "countdown-3", "countdown-6", "game24", "arith"):
        assert name in names
    with pytest.raises(UserError, match="unknown task"):
        get_task("chess")


# --------------------------------------------------------------------------- rules


def test_countdown_moves_follow_the_rules():
    ms = {(m.a, m.op, m.b, m.c) for m in moves((6, 3), rational=False)}
    assert ms == {(6, "+", 3, 9), (6, "-", 3, 3), (6, "*", 3, 18), (6, "/", 3, 2)}
    # no fractions, no negatives in Countdown
    ms = {(m.a, m.op, m.b) for m in moves((7, 3), rational=False)}
    assert (7, "/", 3) not in ms and (3, "-", 7) not in ms


def test_game24_allows_fractions_both_ways():
    ms = {(m.a, m.op, m.b, m.c) for m in moves((8, 3), rational=True)}
    assert (8, "/", 3, Fraction(8, 3)) in ms and (3, "/", 8, Fraction(3, 8)) in ms


def test_solver_finds_known_solutions_and_refuses_impossible_ones():
    assert solvable((3, 3, 8, 8), 24, rational=True)  # 8/(3-8/3)
    assert not solvable((3, 3, 8, 8), 24, rational=False)  # needs fractions
    assert not solvable((1, 1, 1, 1), 24, rational=True)
    assert solve((25, 3, 7, 9), 66) is None  # the README's old example: no solution
    path = solve((25, 3, 7, 10), 66)
    state = [25, 3, 7, 10]
    for m in path:
        state.remove(m.a)
        state.remove(m.b)
        state.append(m.c)
    assert state == [66]


def test_game24_has_the_classic_1362_solvable_puzzles():
    task = get_task("game24")
    total = sum(len(task.problems(s, 10_000)) for s in task.splits)
    assert total == 1362


def test_expression_checker():
    assert evaluate_expression("8/(3-8/3)", (3, 3, 8, 8), rational=True) == 24
    assert evaluate_expression("(25 - 3) * (9 - 7) + 22", (25, 3, 9, 7, 22), rational=False) == 66
    with pytest.raises(ValueError, match="not one of the given"):
        evaluate_expression("8*3", (8, 4), rational=False)
    with pytest.raises(ValueError, match="not all numbers used"):
        evaluate_expression("8*3", (8, 3, 1), rational=False)
    with pytest.raises(ValueError, match="breaks the rules"):
        evaluate_expression("7/2*4", (7, 2, 4), rational=False)  # 7/2 is not whole
    with pytest.raises(ValueError):
        evaluate_expression("8*(3", (8, 3), rational=False)


def test_verify_reads_the_answer_line():
    task = get_task("countdown")
    p = task.make_problem([25, 3, 7, 9], 66)
    assert task.verify(p, "whatever\nanswer: (7 * 9) + 3 + 0\n") == 0.0  # 0 is not given
    assert task.check(p, "7 * 9 + 3 * 1") is False
    q = task.make_problem([7, 9, 3], 66)
    assert task.verify(q, "7 * 9 = 63 | 3 63\n63 + 3 = 66 | 66\nanswer: (7 * 9) + 3\n") == 1.0
    assert task.verify(q, "no answer here") == 0.0


# --------------------------------------------------------------------------- splits


def test_splits_are_disjoint_and_reproducible():
    task = get_task("countdown")
    train = task.problems("train", 300)
    test = task.problems("test", 100)
    unseen = task.problems("test-unseen", 100)
    key = lambda p: (tuple(sorted(p.numbers)), p.target)  # noqa: E731
    assert not {key(p) for p in train} & {key(p) for p in test}
    assert task.problems("test", 100) == test
    held = task.heldout_targets
    assert len(held) == 9  # 10% of the 91 targets 10..100
    assert all(p.target in held for p in unseen)
    assert not any(p.target in held for p in train + test)
    assert all(10 <= p.target <= 100 and all(1 <= n <= 99 for n in p.numbers) for p in train)
    assert all(solvable(p.numbers, p.target) for p in test)
    for k in (3, 5, 6):  # the other sizes hold out the same targets
        assert get_task(f"countdown-{k}").heldout_targets == held


def test_game24_splits_share_no_puzzle_and_tot_holds_tree_of_thoughts_puzzles():
    task = get_task("game24")
    splits = {split: task.problems(split, 10_000) for split in task.splits}
    assert [len(splits[s]) for s in ("train", "val", "test", "tot")] == [710, 59, 493, 100]
    numbers = [{p.numbers for p in problems} for problems in splits.values()]
    assert len(set().union(*numbers)) == sum(map(len, numbers)) == 1362  # a partition of every puzzle
    tot = splits["tot"]
    assert [p.id for p in tot] == [f"tot-{rank}" for rank in range(901, 1001)]
    assert tot[0].numbers == (4, 5, 6, 10) and all(p.target == 24 for p in tot)
    assert all(task.check(p, expression(p.numbers, task.solution(p))) for p in tot)


def test_no_recipe_trains_or_validates_on_a_tot_puzzle():
    """Every trainer draws its problems through ``Task.problems`` of train (and val to choose
    settings), so no recipe's problem can be a Tree of Thoughts puzzle: each belongs to ``tot``
    in Game of 24 and to no split at all in every other Countdown task."""
    import tomllib
    from importlib.resources import files

    from ponder.tasks.countdown.task import benchmark_puzzles

    tot = {numbers for (numbers, _), name in benchmark_puzzles().items() if name == "tot"}
    assert len(tot) == 100
    named = set()
    for recipe in files("ponder.recipes").iterdir():
        if recipe.name.endswith(".toml"):
            r = tomllib.loads(recipe.read_text())
            parts = r["mix"] if isinstance(r.get("mix"), list) else []  # (rm's mix is a share)
            named |= {part["task"] for part in parts} | {r.get("task")} | set(r.get("eval_tasks", ())) | set(r.get("tasks", ()))
    tasks = [get_task(name) for name in sorted(named - {None}) if isinstance(get_task(name), CountdownTask)]
    assert {"game24", "countdown", "countdown-3", "countdown-5"} <= {t.name for t in tasks}
    for task in tasks:
        for numbers in tot:
            assert task._split_of(numbers, 24) in ("tot", "reserved")
        if task.enumerable:  # every problem of its train and val splits, drawn
            assert not {p.numbers for s in ("train", "val") for p in task.problems(s, 10_000)} & tot


def test_a_direct_trace_s_legal_next_steps_are_listed_one_per_set_of_numbers_left():
    task = get_task("game24")
    p = task.make_problem([2, 4, 5, 7], 24)
    first = task.next_steps(p, "")
    assert len(first) == len(set(first)) == 29  # 6 pairs, 4 operations, divisions both ways, less repeats
    assert "4 - 2 = 2 | 5 7 2" in first and "4 / 2 = 2 | 5 7 2" not in first  # the same numbers left
    assert task.next_steps(p, "4 - 2 = 2 | 5 7 2\n7 + 5 = 12 | 2 12\n")[:3] == [
        "12 + 2 = 14 | 14", "12 - 2 = 10 | 10", "12 * 2 = 24 | 24"]
    done = "4 - 2 = 2 | 5 7 2\n7 + 5 = 12 | 2 12\n12 * 2 = 24 | 24\n"
    assert task.next_steps(p, done) == ["answer: (7 + 5) * (4 - 2)"]
    assert task.next_steps(p, done.replace("12 * 2 = 24 | 24", "12 + 2 = 14 | 14")) == []  # not 24
    assert task.next_steps(p, "4 - 2 = 3 | 5 7 3\n") == []  # no such move: the path leads nowhere
    assert task.next_steps(p, done + "answer: (7 + 5) * (4 - 2)\n") is None
    assert task.next_steps(p, "2 4 5 7 : 4 - 2 = 2 | 5 7 2\n") is None  # a search, not a direct trace
    assert not get_task("arith").lists_steps


def test_a_direct_trace_is_legal_when_every_step_is_a_move_of_the_game():
    task = get_task("game24")
    p = task.make_problem([2, 4, 5, 7], 24)
    done = "4 - 2 = 2 | 5 7 2\n7 + 5 = 12 | 2 12\n12 * 2 = 24 | 24\n"
    assert task.legal(p, done) is True and task.legal(p, "") is True
    assert task.legal(p, done + "answer: (7 + 5) * 2\n") is True  # the answer line is not read
    assert task.legal(p, done.replace("12 * 2 = 24 | 24", "12 + 2 = 14 | 14")) is True  # legal, not 24
    assert task.legal(p, "4 - 2 = 3 | 5 7 3\n") is False  # wrong arithmetic
    assert task.legal(p, "4 - 2 = 2 | 5 7 2\n2 + 9 = 11 | 7 11\n") is False  # 9 is not there
    assert task.legal(p, "4 - 2 = 2 | 5 2\n") is False  # the numbers left are not 5 7 2
    assert task.legal(p, "2 4 5 7 : 4 - 2 = 2 | 5 7 2\n") is None  # a search, not a direct trace
    assert get_task("arith").legal(get_task("arith").problems("test", 1)[0], "1 + 1 = 2\n") is None


@pytest.mark.parametrize("name", ["countdown", "game24"])
def test_a_slipped_line_is_mostly_one_the_rules_reject(name):
    """``slip`` writes legal lines wrong the way a policy does: a step the checker rejects, an
    answer the verifier rejects (now and then a rewrite happens to be right: the rules label it)."""
    task = get_task(name)
    rng = random.Random(0)
    steps = answers = wrong_steps = wrong_answers = 0
    for p in task.problems("val", 20):
        text = ""
        while lines := task.next_steps(p, text):
            good = [line for line in lines if task.prefix_outcomes(p, text + line + "\n")[-1]] or lines
            line = rng.choice(good)
            slipped = task.slip(p, line, rng)
            if line.startswith("answer:"):
                answers += 1
                wrong_answers += task.verify(p, text + slipped + "\n") == 0.0
            elif slipped is not None:
                steps += 1
                wrong_steps += not task.check_steps(p, text + slipped + "\n")[-1].valid
            text += line + "\n"
    assert answers >= 10 and steps >= 40
    assert wrong_answers >= 0.8 * answers and wrong_steps >= 0.9 * steps


def test_difficulty_knob():
    for k in (3, 5):
        assert all(len(p.numbers) == k for p in get_task(f"countdown-{k}").problems("val", 5))


# --------------------------------------------------------------------------- traces and step labels


@pytest.mark.parametrize("name", ["countdown-3", "countdown", "game24"])
def test_traces_verify_and_every_step_checks(name):
    task = get_task(name)
    rng = random.Random(0)
    for p in task.problems("val", 15):
        for style in ("direct", "search"):
            text = "".join(seg for seg, _ in task.trace(p, style, rng))
            assert task.verify(p, text) == 1.0, text
            labels = task.check_steps(p, text)
            assert labels and all(c.valid for c in labels), [c for c in labels if not c.valid]


def test_direct_trace_has_one_step_per_line_with_numbers_left():
    task = get_task("countdown")
    p = task.make_problem([4, 6, 10, 5], 40)
    lines = task.direct_trace(p).strip().split("\n")
    assert len(lines) == 4 and lines[-1].startswith("answer:")
    first = parse_step(lines[0])
    assert first.is_step and first.left is not None and len(first.left) == 3


def test_search_trace_tries_backs_off_and_never_gives_up_a_good_state():
    task = get_task("countdown")
    rng = random.Random(3)
    backtracked = 0
    for p in task.problems("val", 60):
        segments = task.search_trace(p, rng, p_dead=0.6)
        text = "".join(t for t, _ in segments)
        assert task.verify(p, text) == 1.0
        labels = task.check_steps(p, text)
        assert all(c.valid and c.reason == "" for c in labels), [c for c in labels if c.reason]
        give_ups = [line for line in task.steps(text) if parse_step(line) and not parse_step(line).is_step]
        backtracked += bool(give_ups)
        # a dead end that leaves two numbers is judged on the spot; only a slip explores it
        for line in task.steps(text):
            step = parse_step(line)
            if step.is_step and step.left is not None and len(step.left) == 2 and not step.dead:
                assert solvable(step.left, p.target) or (line, True) in segments and ("\n", False) in segments
    assert backtracked >= 10  # when dead ends are often tried, many traces back off


def test_a_slip_is_not_trained_and_is_found_out_by_honest_last_steps():
    task = get_task("countdown")
    slips = 0
    for p in task.problems("val", 40):
        segments = task.search_trace(p, random.Random(5), p_dead=1.0, p_slip=0.5)
        for k, (text, trained) in enumerate(segments):
            if trained:
                continue
            slips += 1
            assert text == "\n"
            slip = parse_step(segments[k - 1][0])
            assert len(slip.left) == 2 and not solvable(slip.left, p.target)
            after_slip = [s for s in map(parse_step, (t for t, _ in segments[k + 1:])) if s]
            lasts = [s for s in after_slip if s.is_step and s.state == slip.left][:4]
            assert lasts and all(s.dead and s.left != (p.target,) for s in lasts)
            give_up = next(s for s in after_slip if not s.is_step)
            assert give_up.state == slip.left
        assert all(c.valid for c in task.check_steps(p, "".join(t for t, _ in segments)))
    assert slips >= 10


@pytest.mark.parametrize("name", ["countdown", "countdown-3", "game24"])
def test_a_pair_is_judged_by_listing_what_it_makes_up_to_the_restated_target(name):
    task = get_task(name)
    pairs = stops = 0
    for p in task.problems("val", 30):
        text = "".join(t for t, _ in task.search_trace(p, random.Random(2), p_dead=1.0, p_slip=0.0))
        for line in task.steps(text):
            step = parse_step(line)
            if not (step.is_step and step.left is not None and len(step.left) == 2):
                continue
            pairs += 1
            if not task.spell_out:  # Game of 24: the verdict alone
                assert step.results is None and step.aim is None
                continue
            assert step.aim == p.target  # every step restates the target
            made = [m.c for m in moves(step.left, rational=task.rational, cap=task.cap)]
            if step.dead:  # every result listed, none the target
                assert list(step.results) == made and p.target not in made
            else:  # the list stops at the first result that is the target
                stops += 1
                assert list(step.results) == made[:made.index(p.target) + 1]
    assert pairs > 50 and (stops >= 30 or not task.spell_out)


def _tries(task, text):
    """For each step of a search trace: its place in the state's move order, and the place of the
    previous try at that state (None for the first)."""
    last: dict = {}
    for line in task.steps(text):
        step = parse_step(line)
        if not step.is_step:
            continue
        order = [(m.a, m.op, m.b) for m in moves(step.state, rational=task.rational, cap=task.cap)]
        k = order.index((step.a, step.op, step.b))
        yield k, last.get(step.state)
        last[step.state] = k
        last.pop(step.left, None)  # a state reached again by another path starts afresh


@pytest.mark.parametrize("name", ["countdown", "game24"])
def test_search_tries_only_move_forward_and_skip_dead_ends_at_will(name):
    task = get_task(name)
    for p in task.problems("val", 20):
        straight = task.steps("".join(t for t, _ in task.search_trace(p, random.Random(0), p_dead=0.0)))
        assert len(straight) == 3  # never tries a dead end: straight down the solution
        text = "".join(t for t, _ in task.search_trace(p, random.Random(1), p_dead=0.5))
        for k, previous in _tries(task, text):
            assert previous is None or k > previous  # later in the fixed order than the last try


@pytest.mark.parametrize("name", ["countdown", "game24"])
def test_the_next_child_in_order_is_the_likely_next_line_of_a_default_search(name):
    """Greedy decoding of a model trained on default traces should carry out the search rather than
    guess which states are dead: after each try, the next child in order is what most traces write."""
    task = get_task(name)
    rng = random.Random(0)
    next_in_order = other = 0
    for p in task.problems("val", 40):
        for k, previous in _tries(task, "".join(t for t, _ in task.search_trace(p, rng))):
            if previous is not None:
                next_in_order += k == previous + 1
                other += k != previous + 1
    assert next_in_order > 3 * other


def test_step_checker_labels_bad_and_dead_steps():
    p = Problem("x", "countdown", (4, 6, 10, 5), 35)
    lines = ["10 - 4 = 6 | 6 6 5", "6 6 5 : 6 + 5 = 12 | 6 12", "6 6 5 : 6 * 6 = 36 | 5 36", "9 + 1 = 10 | 10"]
    labels = check_steps(p, lines, rational=False)
    assert labels[0].valid and labels[0].solvable is False  # 6, 6, 5 cannot make 35
    assert not labels[1].valid and "is 11" in labels[1].reason
    assert labels[2].valid and labels[2].solvable is False
    assert not labels[3].valid and "not available" in labels[3].reason
    good = check_steps(p, ["10 - 4 = 6 | 6 6 5", "6 / 6 = 1 | 5 1"], rational=False)
    assert good[0].valid and good[1].valid
    listed = check_steps(p, ["6 6 5 -> 35 : 6 * 6 = 36 | 5 36 : 41 31 ✗", "6 6 5 : 6 * 6 = 36 | 5 36 : 41 35",
                             "6 6 5 -> 36 : 6 * 6 = 36 | 5 36"], rational=False)
    assert listed[0].valid and listed[0].solvable is False
    assert not listed[1].valid and "5 36 make 41 31" in listed[1].reason
    assert not listed[2].valid and "aims at 36" in listed[2].reason


def test_summary_names_the_path():
    task = get_task("countdown")
    p = task.make_problem([46, 39, 16, 10], 42)
    text = "".join(t for t, _ in task.search_trace(p, random.Random(1), p_dead=0.5))
    summary = task.summary(p, text)
    assert "Path:" in summary and "= 42" in summary


# --------------------------------------------------------------------------- user input and files


@pytest.mark.parametrize("numbers,target,message", [
    ([25, 3], None, "needs a target"),
    ([25, "x", 3], 66, "whole non-negative"),
    ([2.5, 3, 4], 66, "whole non-negative"),
    ([25, 300, 3], 66, "1..99"),
    ([25, 3, 7], 5000, "10..100"),
    ([1], 10, "2 to 6 numbers"),
])
def test_countdown_rejects_bad_input(numbers, target, message):
    with pytest.raises(UserError, match=message):
        get_task("countdown").make_problem(numbers, target)


def test_game24_rejects_wrong_count_and_target():
    task = get_task("game24")
    with pytest.raises(UserError, match="exactly 4"):
        task.make_problem([1, 2, 3])
    with pytest.raises(UserError, match="always 24"):
        task.make_problem([1, 2, 3, 4], 25)
    assert task.make_problem(["4", "7", "8", "8"]).target == 24


def test_problem_files_round_trip_and_report_bad_lines(tmp_path):
    task = get_task("countdown")
    problems = task.problems("test", 5)
    path = tmp_path / "p.jsonl"
    save_problems(path, problems)
    loaded = load_problems(path, task)
    assert [(p.id, p.numbers, p.target) for p in loaded] == [(p.id, p.numbers, p.target) for p in problems]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": 1, "numbers": [10, 2], "target": 20}) + "\n{not json\n")
    with pytest.raises(UserError, match=r"bad.jsonl:2"):
        load_problems(bad, task)
    with pytest.raises(UserError, match="not found"):
        load_problems(tmp_path / "missing.jsonl", task)


# --------------------------------------------------------------------------- arithmetic


def test_arith_worked_solutions_are_right():
    task = get_task("arith-4")
    for p in task.problems("val", 30):
        text = task.trace(p)[0][0]
        assert task.verify(p, text) == 1.0
        assert all(c.valid for c in task.check_steps(p, text))
    p = task.make_problem("482 * 37")
    assert p.target == 482 * 37 and task.check(p, "1 7 8 3 4") and not task.check(p, "17835")
    with pytest.raises(UserError):
        task.make_problem("482 ^ 37")


def test_parsing_garbage_is_linear():
    # a regex that backtracks would take ages on a long line of numbers that is not a step
    assert parse_step("65 " * 300 + "x") is None
    assert parse_step("12" * 500 + " = ") is None


def test_model_output_that_breaks_the_rules_is_wrong_not_an_error():
    task = get_task("game24")
    p = task.make_problem([4, 7, 8, 8])
    text = "4 7 8 8 : 10 ⁄ 0 + 4 = 24 | 24\n4 7 8 8 : 8 / 0 = 1 | 1\nanswer: " + "(" * 3000 + "\n"
    assert parse_step("4 7 8 8 : 10 ⁄ 0 + 4 = 24 | 24") is None
    assert task.verify(p, text) == 0.0
    assert task.summary(p, text)
    assert [c.valid for c in task.check_steps(p, text)] == [False, False]
    big = "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20"
    checks = task.check_steps(p, f"{big} : 1 + 2 = 3 | 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20\n{big} ✗\n")
    assert [c.reason for c in checks] == ["not a state of this problem"] * 2


def test_a_number_held_twice_gives_no_repeated_step():
    steps = [(m.a, m.op, m.b) for m in moves((11, 11, 18), rational=True)]
    assert len(steps) == len(set(steps)) and (18, "*", 11) in steps and (11, "/", 11) in steps


# --------------------------------------------------------------------------- declared capabilities


class Bare(Task):
    """A task that declares nothing beyond the protocol."""

    name = "bare"
    splits = ("test",)

    def make_problem(self, numbers, target=None, id="user"):
        return Problem(id=id, task=self.name, numbers=tuple(int(x) for x in numbers), target=int(target))

    def answer(self, text):
        return text.strip() or None


def test_the_task_base_declares_a_task_without_optional_capabilities():
    task, p = Bare(), Problem("p", "bare", numbers=(1, 2), target=3)
    assert (task.WORDS, task.TRACE_STYLES, task.stop, task.step_separator) == ((), (), "", "\n")
    assert not (task.free_text or task.checks_steps or task.exact_outcomes or task.writes_search or task.rule_judged)
    assert task.final_answer(" 3 ") == "3"  # by default the answer is the stated one
    with pytest.raises(UserError, match="no solver"):
        task.trace(p)
    for call in (lambda: task.check_steps(p, "3"), lambda: task.prefix_outcomes(p, "3"), lambda: task.full_search(p)):
        with pytest.raises(NotImplementedError):
            call()
    assert task.parse_user_input(["1 2 -> 3"]) == Problem("user", "bare", numbers=(1, 2), target=3)


CAPABILITIES = {"checks_steps": ("check_steps",), "exact_outcomes": ("prefix_outcomes",),
                "writes_search": ("search_trace", "full_search"), "TRACE_STYLES": ("trace",)}


@pytest.mark.parametrize("name", task_names())
def test_every_task_declares_what_it_overrides(name):
    """A task has a capability's methods exactly when it declares the capability."""
    cls = type(get_task(name))
    for flag, methods in CAPABILITIES.items():
        for method in methods:
            assert bool(getattr(cls, flag)) == (getattr(cls, method) is not getattr(Task, method)), (flag, method)
    assert cls.free_text == ("problem_from_row" in vars(cls))


@pytest.mark.parametrize("name", task_names())
def test_every_task_declares_the_words_it_writes(name):
    """A tokenizer with only the task's declared words cuts its prompts and traces into the nano
    tokenizer's tokens: no word the task writes is missing from its list."""
    task = get_task(name)
    assert set(task.WORDS) <= set(TASK_WORDS) <= set(nano_tokenizer().vocab)
    if not task.TRACE_STYLES:
        return
    own, nano = Tokenizer(words=task.WORDS), nano_tokenizer()
    for i, p in enumerate(task.problems("train", 5, seed=1)):
        assert task.prompt(p).split()[0] in task.WORDS  # the task's name opens every prompt
        for style in task.TRACE_STYLES:
            text = task.prompt(p) + "".join(t for t, _ in task.trace(p, style, random.Random(i)))
            assert [own.vocab[i] for i in own.encode(text)] == [nano.vocab[i] for i in nano.encode(text)], style


@pytest.mark.parametrize("name, typed, extra, target, expected", [
    ("countdown", ["25 3 7 10 -> 66"], None, None, ((25, 3, 7, 10), 66)),
    ("countdown", ["25,3"], ["7", "10"], "66", ((25, 3, 7, 10), 66)),
    ("game24", ["4 7 8 8"], None, None, ((4, 7, 8, 8), 24)),
    ("arith", ["482 *"], ["37"], None, ((482, 37), 482 * 37)),
])
def test_each_task_reads_what_a_user_typed(name, typed, extra, target, expected):
    p = parse_problem(get_task(name), typed, extra, target)
    assert (p.numbers, p.target) == expected


@pytest.mark.parametrize("name, typed, cli, message", [
    ("countdown", ["25 3 7 10"], True, "countdown needs a target: add --target"),
    ("countdown", ["25 3 7 10"], False, 'countdown needs a target: write it after "->"'),
    ("countdown", ["->"], True, "give the numbers, e.g. ponder solve --numbers"),
    ("game24", [], False, 'give the numbers, e.g. "25 3 7 10 -> 66"'),
    ("arith", ["482 ^ 37"], True, "arith takes 'A + B' or 'A * B'"),
    ("math", [" "], True, 'give the question, e.g. ponder solve "What is 15% of 80?"'),
    ("math", [], False, "give the question in words"),
])
def test_what_a_user_typed_wrong_is_told_in_the_words_of_where_it_was_typed(name, typed, cli, message):
    with pytest.raises(UserError, match=re.escape(message)):
        parse_problem(get_task(name), typed, cli=cli)


def test_a_math_question_is_read_in_words_with_its_reference():
    p = parse_problem(get_task("math"), ["What is", "15% of 80?"], ["7"], "12")
    assert (p.question, p.reference) == ("What is 15% of 80?", "12")
