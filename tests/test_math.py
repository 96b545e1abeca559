import json

import pytest

from ponder.errors import UserError
from ponder.tasks import get_task, load_problems, save_problems
from ponder.tasks.math import MathTask, equivalent, extract_answer, reference_answer
from ponder.types import Problem

# --------------------------------------------------------------------------- equivalence table

# (a, b, expected), labelled by hand. Grouped by kind; every group has answers that must NOT match.
EQUIVALENCE = [
    # integers and decimals
    ("72", "72", True),
    ("72", "72.0", True),
    ("1.50", "1.5", True),
    ("042", "42", True),
    ("+5", "5", True),
    (".5", "0.5", True),
    ("-3", "-3.00", True),
    ("72", "27", False),
    ("-5", "5", False),
    ("1000", "100", False),
    ("0.5", "0.05", False),
    ("3.14", "3.15", False),
    ("0", "0.0", True),
    ("0", "-0", True),
    # thousands commas
    ("1,234", "1234", True),
    ("1,000,000", "1000000", True),
    ("1,234.50", "1234.5", True),
    ("1,234", "1234.5", False),
    ("1,234", "(1,234)", False),
    ("12,345", "1,2345", False),
    # fractions
    ("3/4", "0.75", True),
    ("\\frac{3}{4}", "3/4", True),
    ("\\dfrac34", "0.75", True),
    ("\\tfrac{3}{4}", "\\frac34", True),
    ("\\frac{6}{8}", "\\frac{3}{4}", True),
    ("-\\frac{1}{2}", "-0.5", True),
    ("\\frac{-1}{2}", "-\\frac{1}{2}", True),
    ("1/2", ".5", True),
    ("\\frac{1}{2}", "2", False),
    ("0.5", "1/3", False),
    ("3/4", "4/3", False),
    ("\\frac{1}{2}", "-\\frac{1}{2}", False),
    ("0.333", "1/3", False),
    ("\\frac{3}{4}", "0.7", False),
    # percentages: the number itself and its fraction of one both match
    ("50%", "50", True),
    ("50\\%", "50", True),
    ("50%", "0.5", True),
    ("50%", "50\\%", True),
    ("12.5%", "0.125", True),
    ("25%", "\\frac{1}{4}", True),
    ("10%", "1", False),
    ("50%", "5", False),
    ("50%", "0.05", False),
    ("50", "0.5", False),
    ("20%", "25%", False),
    # dollars, units, degrees, trailing periods, assignments
    ("$18$", "18", True),
    ("\\$18", "18", True),
    ("\\$18.00", "18", True),
    ("18 dollars", "18", True),
    ("18.", "18", True),
    ("5\\text{ cm}", "5", True),
    ("12\\text{ cm}^2", "12", True),
    ("7 \\mbox{ inches}", "7", True),
    ("90^\\circ", "90", True),
    ("90^{\\circ}", "90", True),
    ("45 degrees", "45", True),
    ("45°", "45", True),
    ("x = 5", "5", True),
    ("k=-2", "-2", True),
    ("\\boxed{5}", "5", True),
    ("\\left( 3 \\right)", "3", True),
    ("1\\,000", "1000", True),
    ("5\\text{ cm}", "6", False),
    ("\\$18", "19", False),
    ("90^\\circ", "180", False),
    ("x = 5", "x = 6", False),
    # roots and pi
    ("\\sqrt{2}", "\\sqrt2", True),
    ("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}", True),
    ("2\\sqrt{2}", "\\sqrt{8}", True),
    ("\\sqrt[3]{8}", "2", True),
    ("\\sqrt{12}", "2\\sqrt3", True),
    ("2\\pi", "2 \\pi", True),
    ("\\pi \\cdot 2", "2\\pi", True),
    ("\\frac{\\pi}{2}", "\\pi/2", True),
    ("\\pi r^2", "r^2\\pi", True),
    ("\\sqrt{2}", "2", False),
    ("\\sqrt{2}", "1.414", False),
    ("\\pi", "3.14", False),
    ("2\\pi", "\\pi", False),
    ("\\sqrt{3}", "\\sqrt{2}", False),
    ("\\frac{\\pi}{2}", "\\frac{\\pi}{3}", False),
    # algebra
    ("2x+1", "1+2*x", True),
    ("x^2", "x**2", True),
    ("(x+1)^2", "x^2+2x+1", True),
    ("x(x+1)", "x^2+x", True),
    ("\\frac{x}{2}", "0.5x", True),
    ("2 \\times 10^3", "2000", True),
    ("2^{10}", "1024", True),
    ("a+b", "b+a", True),
    ("y = 2x+1", "2x+1", True),
    ("(x+1)^3", "x^3+3x^2+3x+1", True),
    ("(z+y+x)^10", "(x+y+z)^10", True),
    ("2x+1", "2x-1", False),
    ("x^2", "2x", False),
    ("(x+1)^2", "x^2+1", False),
    ("x+y", "x-y", False),
    ("2^{10}", "1000", False),
    ("x", "y", False),
    # tuples, intervals and lists of solutions
    ("(1, 2)", "(1,2)", True),
    ("(\\frac{1}{2}, 3)", "(0.5, 3)", True),
    ("[1, 2)", "[1,2)", True),
    ("(-\\infty, 5]", "(-\\infty,5]", True),
    ("\\left(1,2\\right)", "(1,2)", True),
    ("(1,(2,3))", "(1, (2, 3))", True),
    ("1, 2", "2, 1", True),
    ("x=3", "3", True),
    ("(1,2)", "(2,1)", False),
    ("(1,2)", "[1,2]", False),
    ("[1,2)", "(1,2]", False),
    ("(1,2)", "(1,2,3)", False),
    ("1,2", "1,2,3", False),
    ("1,2", "1,3", False),
    ("(1,2)", "1", False),
    ("1, 234", "1234", False),
    # multiple choice and words
    ("(B)", "B", True),
    ("(b)", "B", True),
    ("\\text{(B)}", "B", True),
    ("B)", "b", True),
    ("Yes", "yes", True),
    ("\\text{yes}", "Yes", True),
    ("(B)", "(C)", False),
    ("A", "B", False),
    ("yes", "no", False),
    ("B", "8", False),
    # odd input: never an error, never a match
    ("", "", False),
    ("", "0", False),
    (None, "0", False),
    ("1/0", "2", False),
    ("\\frac{1}", "1", False),
    ("9^9^9", "1", False),
    ("2^(10^(10^10))", "1", False),
    ("x^1000000", "x", False),
    ("(a+b+c+d+e+f)^16", "1", False),  # 20,349 terms expanded: refused, not simplified for a minute
    ("((((((((((1))))))))))", "2", False),
    ("1+" * 150 + "1", "151", False),
    ("}{)(][", "1", False),
]


@pytest.mark.parametrize("a, b, expected", EQUIVALENCE, ids=[f"{a!r}~{b!r}"[:60] for a, b, _ in EQUIVALENCE])
def test_equivalence_table(a, b, expected):
    assert equivalent(a, b) is expected
    assert equivalent(b, a) is expected  # the relation is symmetric


# Labelled by hand after the table above, to see what math-verify reads that ponder's rules did not:
# both graders are measured on both lists by benchmarks/graders.py.
FURTHER = [
    # what the field's graders read and ponder's rules did not
    ("2\\frac{1}{2}", "\\frac{5}{2}", True),  # a mixed number
    ("1\\frac{1}{2}", "1.5", True),
    ("3\\tfrac{1}{4}", "\\frac{13}{4}", True),
    ("\\binom{5}{2}", "10", True),
    ("\\dbinom{6}{3}", "20", True),
    ("\\log_2 8", "3", True),
    ("\\ln(e^2)", "2", True),
    ("x=-2 \\text{ or } x=3", "\\{-2, 3\\}", True),
    ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", True),
    ("\\sin^2 x + \\cos^2 x", "1", True),
    ("\\tan\\frac{\\pi}{4}", "1", True),
    # both read these
    ("\\sqrt{8}", "2\\sqrt{2}", True),
    ("\\frac{\\sqrt{3}}{2}", "\\frac{1}{2}\\sqrt{3}", True),
    ("2^{10}", "1024", True),
    ("\\sqrt[3]{27}", "3", True),
    ("10^{-3}", "0.001", True),
    ("\\frac{1}{2}", "\\frac{2}{4}", True),
    ("(-\\infty, 3]", "(-\\infty,3]", True),
    ("\\{1, 2, 3\\}", "\\{3, 2, 1\\}", True),
    ("y = 2x + 3", "2x+3", True),
    ("\\frac{a}{b}+\\frac{c}{d}", "\\frac{ad+bc}{bd}", True),
    # and these are different
    ("5", "-5", False),
    ("0.333", "\\frac{1}{3}", False),
    ("x^2+1", "x^2-1", False),
    ("\\{1,2\\}", "\\{1,2,3\\}", False),
    ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\begin{pmatrix}2\\\\1\\end{pmatrix}", False),
    ("\\log_2 8", "4", False),
    ("\\binom{5}{2}", "20", False),
    ("(-\\infty, 3]", "(-\\infty, 3)", False),
]

# math-verify reads "i" as a variable, as ponder does, so neither finds these equal (yet).
IMAGINARY = [("e^{i\\pi}", "-1", True), ("i^2", "-1", True)]


@pytest.mark.parametrize("a, b, expected", FURTHER, ids=[f"{a!r}~{b!r}"[:60] for a, b, _ in FURTHER])
def test_further_pairs(a, b, expected):
    assert equivalent(a, b) is expected
    assert equivalent(b, a) is expected


@pytest.mark.xfail(strict=True, reason="neither ponder nor math-verify reads i as the imaginary unit")
@pytest.mark.parametrize("a, b, expected", IMAGINARY)
def test_the_imaginary_unit_is_a_known_miss(a, b, expected):
    assert equivalent(a, b) is expected


def test_grading_works_off_the_main_thread():
    """math-verify's own timeouts use signal.alarm, which raises off the main thread (ponder serve's
    engine thread, Ray workers); ponder turns them off and bounds the input instead."""
    import threading

    verdicts = []
    worker = threading.Thread(target=lambda: verdicts.extend(
        [equivalent("\\binom{5}{2}", "10"), equivalent("2\\frac{1}{2}", "2.5"), equivalent("\\binom{5}{2}", "11")]))
    worker.start()
    worker.join(timeout=60)
    assert verdicts == [True, True, False]



def test_equivalence_table_is_large_and_has_both_labels():
    assert len(EQUIVALENCE) >= 100
    labels = [expected for _, _, expected in EQUIVALENCE]
    assert labels.count(True) >= 40 and labels.count(False) >= 40


# --------------------------------------------------------------------------- extraction


EXTRACTIONS = [
    # the last box, nested braces and all; a box wins over a stated answer
    ("First \\boxed{1}, then $\\boxed{\\frac{1}{\\sqrt{2}}}$ in the end.", "\\frac{1}{\\sqrt{2}}"),
    ("so \\fbox{x^{2}} it is", "x^{2}"),
    ("the box wins: \\boxed{7}. The answer is 8", "7"),
    # a stated answer, the last one
    ("5 + 13 = 18. The answer is $18$.", "18"),
    ("so the final answer is 3.5. Done, 99", "3.5"),
    ("Work...\nAnswer: \\frac{1}{2}\n", "\\frac{1}{2}"),
    ("**Final Answer:** 42", "42"),
    ("the answer is 4.\nWait, the answer is 5.", "5"),
    # else the last number
    ("we get -3 and then 1,234 apples", "1,234"),
    ("a drop of -7.5 degrees", "-7.5"),
    ("three quarters: 3/4.", "3/4"),
    ("5 - 2 leaves 3", "3"),
    # else nothing
    ("no idea at all", None),
    ("", None),
]


@pytest.mark.parametrize("text,answer", EXTRACTIONS)
def test_extract_answer(text, answer):
    assert extract_answer(text) == answer


def test_reference_answer_reads_solutions_and_keeps_bare_answers():
    assert reference_answer("She pays 8 * 9 = 72.\n#### 72") == "72"
    assert reference_answer("So $x = \\boxed{\\frac{1}{2}}$.") == "\\frac{1}{2}"
    assert reference_answer("x^2+1") == "x^2+1"  # one line, no marker: the answer itself
    assert reference_answer(42) == "42"
    assert reference_answer(["42"]) is None


# --------------------------------------------------------------------------- loading


def _write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_load_gsm8k_style(tmp_path):
    path = _write(tmp_path / "gsm8k.jsonl", [
        {"question": "Tom has 3 bags of 24 apples. How many apples?", "answer": "3 * 24 = 72\n#### 72"},
        {"question": "What is 1,000 + 234?", "answer": "#### 1,234"},
    ])
    problems = load_problems(path, get_task("math"))
    assert [p.reference for p in problems] == ["72", "1,234"]
    assert [p.id for p in problems] == ["1", "2"]
    assert problems[0].question.startswith("Tom has") and problems[0].task == "math"


def test_load_math_style(tmp_path):
    path = _write(tmp_path / "math.jsonl", [
        {"id": "algebra/1", "problem": "Solve $2x = 1$.", "solution": "Divide: $x = \\boxed{\\dfrac{1}{2}}$."},
        {"id": "aime-3", "problem": "Find the remainder.", "answer": 42},
    ])
    problems = load_problems(path, MathTask())
    assert [(p.id, p.reference) for p in problems] == [("algebra/1", "\\dfrac{1}{2}"), ("aime-3", "42")]


def test_load_custom_field_names(tmp_path):
    path = _write(tmp_path / "custom.jsonl", [{"prompt": "What is 2+3?", "final": "5", "answer": "wrong"}])
    (problem,) = load_problems(path, MathTask(question_field="prompt", answer_field="final"))
    assert (problem.question, problem.reference) == ("What is 2+3?", "5")


def test_load_reports_a_bad_line_with_its_number(tmp_path):
    path = _write(tmp_path / "bad.jsonl", [{"question": "1+1?", "answer": "2"}, "{not json"])
    with pytest.raises(UserError, match=r"bad\.jsonl:2: not valid JSON"):
        load_problems(path, MathTask())
    path = _write(tmp_path / "list.jsonl", ["[1, 2]"])
    with pytest.raises(UserError, match=r"list\.jsonl:1: expected a JSON object"):
        load_problems(path, MathTask())


def test_load_names_the_fields_it_looked_for(tmp_path):
    path = _write(tmp_path / "noq.jsonl", [{"question": "1+1?", "answer": "2"}, {"text": "1+1?", "answer": "2"}])
    with pytest.raises(UserError, match=r"noq\.jsonl:2: no question: expected a field 'question' or 'problem'"):
        load_problems(path, MathTask())
    path = _write(tmp_path / "noa.jsonl", [{"problem": "1+1?"}])
    with pytest.raises(UserError, match=r"noa\.jsonl:1: no answer: expected a field 'answer' or 'solution'"):
        load_problems(path, MathTask())
    path = _write(tmp_path / "custom.jsonl", [{"question": "1+1?", "answer": "2"}])
    with pytest.raises(UserError, match="expected a field 'final'$"):
        load_problems(path, MathTask(answer_field="final"))


def test_saved_math_problems_load_back(tmp_path):
    problems = [MathTask().make_problem("What is 2+3?", "5", id="a")]
    save_problems(tmp_path / "saved.jsonl", problems)
    assert load_problems(tmp_path / "saved.jsonl", MathTask()) == problems


def test_load_problems_for_countdown_still_works(tmp_path):
    path = _write(tmp_path / "cd.jsonl", [{"id": "c1", "numbers": [25, 3, 7, 9], "target": 66}])
    (problem,) = load_problems(path, get_task("countdown"))
    assert (problem.id, problem.numbers, problem.target, problem.reference) == ("c1", (25, 3, 7, 9), 66, "")
    path = _write(tmp_path / "cd-bad.jsonl", [{"question": "1+1?"}])
    with pytest.raises(UserError, match=r"cd-bad\.jsonl:1: expected an object with \"numbers\""):
        load_problems(path, get_task("countdown"))


def test_math_has_no_built_in_problems_or_traces():
    task = get_task("math")
    with pytest.raises(UserError, match="--problems FILE"):
        task.problems("test", 10)
    with pytest.raises(UserError, match="no solver"):
        task.trace(task.make_problem("1+1?", "2"), "search", None)


def test_make_problem_takes_a_question_and_an_optional_reference():
    task = MathTask()
    problem = task.make_problem("What is 2+3?")
    assert (problem.question, problem.reference, problem.id) == ("What is 2+3?", "", "user")
    assert task.make_problem(["What", "is", "2+3?"], 5).reference == "5"
    assert Problem(id="p", task="math", question="q", reference="5").to_json()["reference"] == "5"
    assert "reference" not in problem.to_json()
    for bad in ("", "   ", 7, None):
        with pytest.raises(UserError, match="takes a question"):
            task.make_problem(bad)


def test_task_fields_are_validated():
    with pytest.raises(ValueError, match="newline"):
        MathTask(template="Q: {question}")
    with pytest.raises(ValueError, match="step_separator"):
        MathTask(step_separator="")


# --------------------------------------------------------------------------- prompt, steps, verify

COMPLETION = """Tom has 3 bags with 24 apples each.

So he has 3 * 24 = 72 apples.

The answer is 72.

Question: A new question the model made up, whose answer is 5.
Answer: 5"""


def test_prompt_is_a_plain_completion_prompt():
    task = MathTask()
    problem = task.make_problem("What is {x} if 2x = 4?", "2")
    assert task.prompt(problem) == "Question: What is {x} if 2x = 4?\nAnswer: Let's think step by step.\n"
    assert MathTask(template="Problem: {question}\nSolution:\n").prompt(problem).endswith("Solution:\n")


def test_steps_answer_and_verify_on_a_completion():
    task = MathTask()
    problem = task.make_problem("Tom has 3 bags of 24 apples. How many apples?", "3 * 24 = 72\n#### 72")
    assert task.steps(COMPLETION) == [
        "Tom has 3 bags with 24 apples each.",
        "So he has 3 * 24 = 72 apples.",
        "The answer is 72.",
    ]
    assert task.answer(COMPLETION) == "72"
    assert task.verify(problem, COMPLETION) == 1.0
    assert task.verify(problem, COMPLETION.replace("72", "71")) == 0.0
    assert task.verify(problem, "I do not know.") == 0.0
    assert task.verify(task.make_problem("How many apples?"), COMPLETION) == 0.0  # no reference: unverifiable
    assert task.summary(problem, COMPLETION) == "3 steps; answer 72."
    assert task.summary(problem, "no idea") == "1 step; no answer found."


def test_custom_step_separator():
    task = MathTask(step_separator="\n")
    assert task.steps("a\n\nb\nc") == ["a", "b", "c"]
