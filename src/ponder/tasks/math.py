"""Math problems for real LLMs (GSM8K, MATH, AIME), graded by rule, with no LLM judge.

Problems come from a JSONL file (``--problems FILE``): a question and a reference, which is a
bare answer (``72``, ``\\frac{1}{2}``) or a full solution whose final answer is read from it
(GSM8K's ``... #### 72``, MATH's ``\\boxed{...}``). The model writes free text, blank-line
separated steps; its answer is the last ``\\boxed{...}``, else the last "the answer is ...",
else the last number it wrote.

``equivalent`` decides whether two answers agree. It normalises both (dollar signs, LaTeX
spacing, units, degrees, ``x = ``) and then they agree when they agree as plain strings
(ignoring case), as numbers (exactly, as fractions), as tuples and intervals item by item, or
as algebra through sympy. Two choices worth knowing:

* A percentage equals both its number and its fraction of one: ``50%`` matches ``50`` and
  ``0.5``, since references and models write it either way; ``50`` and ``0.5`` do not match.
* Brackets make an ordered tuple or an interval (``(1,2)`` is not ``(2,1)``, nor ``[1,2]``);
  a bare list ``1, 2`` is a set of solutions, matched in any order. ``1,234`` is one number.

When these rules find no agreement, the answers go to Hugging Face's ``math-verify`` (what
open-r1, TRL and lighteval grade with), which reads far more LaTeX: mixed numbers, ``\\binom``,
logarithms and trigonometry, sets, equations and matrices. Measured on hand-labelled pairs
(``benchmarks/graders.py``), ponder's rules are right on some answers math-verify misses (units
in words, ``1\\,000``, ``x**2``, choice letters) and are about a hundred times faster, so they
run first; math-verify is asked only when they say no.

Neither sympy nor math-verify sees an answer that could make grading hang: only short answers
with shallow brackets, small exponents and few terms when expanded (see ``_terms``). math-verify's
own timeouts use ``signal.alarm``, which works only on a process's main thread, and a grader runs
inside ``ponder serve``'s engine thread and in Ray workers: they are off, and these bounds stand in.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from fractions import Fraction

from ponder.errors import UserError
from ponder.tasks.base import Task, question_text
from ponder.types import Problem

QUESTION_FIELDS = ("question", "problem")
ANSWER_FIELDS = ("answer", "solution", "reference")  # "reference": what ``save_problems`` writes


# --------------------------------------------------------------------------- reading answers


_BOX = re.compile(r"\\(?:boxed|fbox)(?![a-zA-Z])")
_BOX_ARGUMENT = re.compile(r"\s*(?P<brace>\{)|\s+(?P<word>[^\s${}]+)")
_STATED = re.compile(r"(?:\bthe\s+(?:final\s+)?answer\s+is\b|\banswer\s*:)\s*:?(?P<x>[^\n]*)", re.IGNORECASE)
_SENTENCE_END = re.compile(r"\.\s")
_NUMBER = re.compile(r"(?:(?<![\w)])-)?(?:\d+/\d+|\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)")


def _closing_braces(text: str) -> dict[int, int]:
    """Where each closed ``{`` of ``text`` is closed: one pass, so a completion full of open boxes
    costs no more than a clean one."""
    closing, open_at = {}, []
    for i, ch in enumerate(text):
        if ch == "{":
            open_at.append(i)
        elif ch == "}" and open_at:
            closing[open_at.pop()] = i
    return closing


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` or ``\\fbox{...}`` in ``text``, or None."""
    closing = _closing_braces(text)
    for m in reversed(list(_BOX.finditer(text))):
        arg = _BOX_ARGUMENT.match(text, m.end())
        if arg is None:
            continue
        if arg["brace"]:
            end = closing.get(arg.start("brace"))
            content = text[arg.end("brace"):end] if end is not None else ""
        else:  # "\boxed 5", which some MATH solutions write
            content = arg["word"]
        if content.strip():
            return content.strip()
    return None


def _stated(text: str) -> str | None:
    """What the last "The answer is X" / "the final answer is X" / "Answer: X" says, up to the
    end of its sentence, without dollar signs or a closing period."""
    for m in reversed(list(_STATED.finditer(text))):
        sentence = _SENTENCE_END.split(m["x"] + " ", maxsplit=1)[0]
        said = sentence.lstrip(" \t\r*$").rstrip(" \t\r*$.")  # markdown bold, dollar signs, a period
        if said:
            return said
    return None


def _last_number(text: str) -> str | None:
    """The last number in ``text`` as written: ``-3``, ``2.5``, ``1,234``, ``3/4``."""
    found = _NUMBER.findall(text)
    return found[-1] if found else None


def extract_answer(text: str) -> str | None:
    """The final answer of a completion: the last box, else the last stated answer, else the last
    number; None when there is none of them."""
    return last_boxed(text) or _stated(text) or _last_number(text)


def reference_answer(value) -> str | None:
    """The final answer a reference holds. A number or a one-line bare answer is taken as it is;
    GSM8K's solutions give theirs after ``####``; any other solution is read like a completion."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    text = str(value).strip()
    if "####" in text:
        return text.rsplit("####", 1)[1].strip() or None
    if "\n" in text or last_boxed(text) or _stated(text):
        return extract_answer(text)
    return text or None


# --------------------------------------------------------------------------- normalising


_UNIT = re.compile(r"(?<=\S)\s*\\(?:text|textrm|mbox|mathrm)\{[^{}]*\}(?:\^\{?\d\}?)?\s*$")  # 5\text{ cm}^2
_TEXT = re.compile(r"\\(?:text|textrm|textbf|mbox|mathrm|mathbf)\{([^{}]*)\}")
_NOISE = re.compile(r"\\(?:left|right|displaystyle)(?![a-zA-Z])|\\[!,;: ]|\\?\$|\^\s*\{?\s*\\circ\s*\}?|\\circ|°")
_ASSIGNMENT = re.compile(r"^[a-zA-Z]\s*=\s*")
_WORDS = re.compile(r"([+-]?[\d.,]+)\s+([a-zA-Z]{2,}(?:\s+[a-zA-Z]{2,})*)")  # "18 dollars", "45 degrees"
_CHOICE = re.compile(r"\(?([A-Za-z])\)")  # "(B)" or "B)"
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_SYMBOLS = {"\\pi": "(pi)", "\\cdot": "*", "\\times": "*", "\\div": "/", "\\dfrac": "\\frac", "\\tfrac": "\\frac"}


def _argument(text: str, i: int) -> tuple[str, int] | None:
    """The argument of a LaTeX command that ends at ``i``: a ``{...}`` group (nested braces kept
    whole) or else one character, skipping spaces first; with the index after it. None when the
    text ends first."""
    while i < len(text) and text[i].isspace():
        i += 1
    if i == len(text):
        return None
    if text[i] != "{":
        return text[i], i + 1
    depth = 0
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1:j], j + 1
    return None


def _latex_to_plain(s: str) -> str:
    """``\\frac{a}{b}`` -> ``(a)/(b)``, ``\\sqrt{x}`` -> ``sqrt(x)``, ``\\sqrt[n]{x}`` ->
    ``(x)^(1/(n))``, ``\\pi`` -> ``(pi)`` (so ``\\pi r`` stays a product, not a name ``pir``);
    plain braces become parentheses. Nested commands are rewritten one at a time, outermost first."""
    for latex, plain in _SYMBOLS.items():
        s = re.sub(re.escape(latex) + r"(?![a-zA-Z])", lambda _: plain, s)
    while (m := re.search(r"\\(frac|sqrt)(?![a-zA-Z])", s)) is not None:
        i, root = m.end(), None
        if m[1] == "sqrt" and s[i:i + 1] == "[" and "]" in s[i:]:
            close = s.index("]", i)
            root, i = s[i + 1:close], close + 1
        first = _argument(s, i)
        second = _argument(s, first[1]) if first and m[1] == "frac" else None
        if first is None or (m[1] == "frac" and second is None):
            return s  # a command without its arguments: leave the text for string comparison
        if m[1] == "frac":
            plain, end = f"({first[0]})/({second[0]})", second[1]
        elif root is not None:
            plain, end = f"({first[0]})^(1/({root}))", first[1]
        else:
            plain, end = f"sqrt({first[0]})", first[1]
        s = s[:m.start()] + plain + s[end:]
    s = re.sub(r"(?<!\\)\{", "(", re.sub(r"(?<!\\)\}", ")", s))
    return s.replace("\\{", "{").replace("\\}", "}")


def normalize(answer: str) -> str:
    """An answer in a canonical spelling: no dollar signs, LaTeX spacing or sizing, units, degrees,
    closing period, ``x =``, thousands commas or spaces; LaTeX fractions and roots written plainly."""
    s = answer.strip()
    if _BOX.match(s):
        s = last_boxed(s) or s
    s = _TEXT.sub(r"\1", _UNIT.sub("", s))
    s = _NOISE.sub("", s.replace("\\%", "%")).strip().rstrip(".").strip()
    if s.count("=") == 1:
        s = _ASSIGNMENT.sub("", s)
    words = _WORDS.fullmatch(s)
    if words and "pi" not in words[2].lower().split():
        s = words[1]
    if choice := _CHOICE.fullmatch(s):
        s = choice[1]
    s = _latex_to_plain(s)
    if _THOUSANDS.fullmatch(s):
        s = s.replace(",", "")
    return re.sub(r"\s+", "", s)


# --------------------------------------------------------------------------- comparing


_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")
_RATIO = re.compile(r"([+-]?)\(?([+-]?\d+)\)?/\(?([+-]?\d+)\)?")  # 3/4, -(3)/(4), (-3)/(4)


def _number(s: str) -> Fraction | None:
    """A normalised integer, decimal or fraction as an exact value, or None."""
    if _DECIMAL.fullmatch(s):
        return Fraction(s)
    m = _RATIO.fullmatch(s)
    if m and int(m[3]) != 0:
        value = Fraction(int(m[2]), int(m[3]))
        return -value if m[1] == "-" else value
    return None


def _readings(s: str) -> list[str]:
    """The ways to read a normalised answer: a percentage is its number and its fraction of one."""
    if len(s) > 1 and s.endswith("%"):
        value = _number(s[:-1])
        return [s[:-1]] if value is None else [s[:-1], str(value / 100)]
    return [s]


def _split_top(s: str) -> list[str]:
    """``s`` split at the commas outside any brackets."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(s):
        depth += (ch in "([{") - (ch in ")]}")
        if ch == "," and depth == 0:
            items.append(s[start:i])
            start = i + 1
    return items + [s[start:]]


def _encloses(s: str) -> bool:
    """Whether the bracket opening ``s`` is closed by its last character (``(1,2)``, ``[0,1)``)."""
    depth = 0
    for i, ch in enumerate(s):
        depth += (ch in "([") - (ch in ")]")
        if depth == 0:
            return i == len(s) - 1
    return False


def _sequence(s: str) -> tuple[str, list[str]] | None:
    """A normalised tuple or interval as (its two brackets, its items); a bare list ``1,2`` has
    brackets ""; None when ``s`` has no comma outside brackets."""
    brackets = ""
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]" and _encloses(s):
        brackets, s = s[0] + s[-1], s[1:-1]
    items = _split_top(s)
    return (brackets, items) if len(items) > 1 else None


def _same_sequence(a: tuple[str, list[str]], b: tuple[str, list[str]]) -> bool:
    """Tuples and intervals match item by item under the same brackets; bare lists in any order."""
    (left, xs), (right, ys) = a, b
    if left != right or len(xs) != len(ys):
        return False
    if left:
        return all(_same(x, y) for x, y in zip(xs, ys))
    unmatched = list(ys)
    for x in xs:
        k = next((k for k, y in enumerate(unmatched) if _same(x, y)), None)
        if k is None:
            return False
        del unmatched[k]
    return True


def _same(x: str, y: str) -> bool:
    """Whether two normalised answers agree: as strings, numbers, sequences, then algebra."""
    if x.lower() == y.lower():
        return True
    u, v = _number(x), _number(y)
    if u is not None and v is not None:
        return u == v
    s, t = _sequence(x), _sequence(y)
    if s is not None or t is not None:
        return s is not None and t is not None and _same_sequence(s, t)
    return _symbolic_equal(x, y)


_MAX_ANSWER = 1000
"""Longer answers are unequal to everything: no final answer is that long, and the bound keeps
normalising (which rewrites one LaTeX command at a time) fast."""


def equivalent(a, b, math_verify: bool = True) -> bool:
    """Whether answer ``a`` agrees with answer ``b`` (see the module docstring for the rules);
    ``math_verify=False``: by ponder's rules alone, without asking math-verify.

    Deterministic, and never raises: odd input (None, text sympy cannot read) is simply unequal.
    """
    if a is None or b is None or len(str(a)) > _MAX_ANSWER or len(str(b)) > _MAX_ANSWER:
        return False
    try:
        x, y = normalize(str(a)), normalize(str(b))
        if not x or not y:
            return False
        if any(_same(p, q) for p in _readings(x) for q in _readings(y)):
            return True
        return math_verify and _math_verify_equal(str(a), str(b))
    except Exception:  # a grader must not crash an evaluation on a strange answer; strange is wrong
        return False


# --------------------------------------------------------------------------- algebra (sympy)


_MAX_CHARS = 200
"""Longer answers are not given to sympy (parsing and simplifying them could take long)."""
_MAX_POWER = 10_000
"""Largest constant exponent, multiplied through nested powers: ``(2^100)^100`` is quick to
compute, ``9^9^9`` is not."""
_MAX_TERMS = 100
"""Most terms an expression may expand to: simplify takes some milliseconds per term, and
``(a+b+c+d+e+f)^16`` would make 20,349 of them."""
_ALGEBRA = re.compile(r"[0-9a-zA-Z+\-*/^().]+")
_NOT_ALGEBRA = re.compile(r"\(\)|\.(?!\d)|[a-zA-Z)]\.")  # "()" is a Python tuple, "x.n" an attribute
_FUNCTIONS = ("sqrt", "pi")


def _symbolic_equal(x: str, y: str) -> bool:
    """Whether two plain expressions are equal as algebra (``2x+1`` and ``1+2*x``)."""
    try:
        import sympy  # imported here: only answers that are neither numbers nor tuples need it
    except ImportError:  # sympy comes with torch; without it such answers compare as strings
        return False
    a, b = _to_sympy(x), _to_sympy(y)
    return a is not None and b is not None and sympy.simplify(a - b) == 0


def _to_sympy(s: str):
    """``s`` as a sympy expression, or None when it is not short plain algebra over one-letter
    variables, ``sqrt`` and ``pi``, or when simplifying it could be slow (see ``_terms``)."""
    if len(s) > _MAX_CHARS or not _ALGEBRA.fullmatch(s) or _NOT_ALGEBRA.search(s):
        return None
    names = set(re.findall(r"[a-zA-Z]+", s))
    if any(len(name) > 1 and name not in _FUNCTIONS for name in names):
        return None
    from sympy import Symbol
    from sympy.parsing.sympy_parser import (
        convert_xor, implicit_multiplication, parse_expr, rationalize, standard_transformations,
    )

    variables = {name: Symbol(name) for name in names if len(name) == 1}
    rules = standard_transformations + (implicit_multiplication, convert_xor, rationalize)
    try:
        if _terms(parse_expr(s, local_dict=variables, transformations=rules, evaluate=False)) > _MAX_TERMS:
            return None
        return parse_expr(s, local_dict=variables, transformations=rules)
    except Exception:  # the parser raises many kinds (SyntaxError, TypeError, TokenError) on odd text
        return None


def _terms(expr, scale: float = 1.0) -> float:
    """An upper bound on the terms of an unevaluated expression once expanded, what simplifying it
    costs; infinite when a constant exponent, multiplied by the exponents it sits under, passes
    ``_MAX_POWER`` (the number would be too large to compute)."""
    import sympy

    if not expr.args:
        return 1
    if isinstance(expr, sympy.Add):
        return sum(_terms(arg, scale) for arg in expr.args)
    if not isinstance(expr, sympy.Pow):
        return math.prod(_terms(arg, scale) for arg in expr.args)
    base, exponent = expr.args
    if exponent.free_symbols:  # a symbolic exponent is never expanded
        return _terms(base, scale) * _terms(exponent)
    if _terms(exponent) > _MAX_TERMS:
        return math.inf
    power = abs(complex(sympy.N(exponent)))
    scale *= max(1.0, power)
    if scale > _MAX_POWER:
        return math.inf
    inner = _terms(base, scale)
    if not base.free_symbols:  # a number stays one term, however it is written
        return 1 if inner <= _MAX_TERMS else math.inf
    if power != int(power) or inner == 1:
        return inner
    n = int(power)
    return math.comb(inner + n - 1, n) if inner <= _MAX_TERMS and n <= _MAX_TERMS else math.inf


# --------------------------------------------------------------------------- math-verify


_MAX_DEPTH = 6
"""Deepest bracket nesting math-verify is given: its LaTeX parser takes half a second on ten."""


def _math_verify_equal(a: str, b: str) -> bool:
    """Whether math-verify finds two answers equal, either way round; False when it is not
    installed or an answer is outside the bounds that keep it quick."""
    mv = _math_verify()
    if mv is None or not (_quick_to_parse(a) and _quick_to_parse(b)):
        return False
    x, y = mv.parse(f"${a}$", parsing_timeout=None), mv.parse(f"${b}$", parsing_timeout=None)
    if not x or not y or not all(_quick_to_compare(e) for e in (*x, *y)):
        return False
    return mv.verify(x, y, timeout_seconds=None) or mv.verify(y, x, timeout_seconds=None)


def _math_verify():
    """The math_verify module, or None. Its one warning says that its signal timeouts are off,
    which is what ``_math_verify_equal`` asks for; it is silenced."""
    try:
        import math_verify
    except ImportError:
        return None
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    return math_verify


def _quick_to_parse(s: str) -> bool:
    depth = deepest = 0
    for ch in s:
        depth += (ch in "([{") - (ch in ")]}")
        deepest = max(deepest, depth)
    return len(s) <= _MAX_CHARS and deepest <= _MAX_DEPTH


def _quick_to_compare(e) -> bool:
    """Whether a parsed answer (a sympy expression, matrix or string) is cheap to simplify."""
    import sympy

    if isinstance(e, str):
        return True
    if isinstance(e, sympy.MatrixBase):
        return sum(_terms(x) for x in e) <= _MAX_TERMS
    return _terms(e) <= _MAX_TERMS


# --------------------------------------------------------------------------- the task


@dataclass(frozen=True)
class MathTask(Task):
    """Free-text math problems from a JSONL file, answered in free text and graded by rule."""

    free_text = True

    name: str = "math"
    splits: tuple[str, ...] = ("test",)
    """Nominal: math has no built-in problems to split; they come from ``--problems FILE``."""
    template: str = "Question: {question}\nAnswer: Let's think step by step.\n"
    """The prompt, ``{question}`` replaced by the question: a plain completion prompt that base and
    instruct models both continue with worked reasoning. It ends with a newline."""
    step_separator: str = "\n\n"
    """What separates two reasoning steps in a completion: a blank line by default."""
    stop: str = "\nQuestion:"
    """Where a base model, done answering, starts a question of its own: a completion is read only
    up to it ("" reads it all). Worth passing as a stop string when sampling, too."""
    question_field: str | None = None
    """The JSONL field holding the question; None tries "question", then "problem"."""
    answer_field: str | None = None
    """The JSONL field holding the reference (a bare answer or a full solution); None tries
    "answer", then "solution", then "reference"."""

    def __post_init__(self) -> None:
        if "{question}" not in self.template or not self.template.endswith("\n"):
            raise ValueError("template must contain {question} and end with a newline")
        if not self.step_separator:
            raise ValueError("step_separator must not be empty")

    # -- problems

    def problems(self, split: str, n: int, seed: int = 0) -> list[Problem]:
        raise UserError(f"the {self.name} task has no built-in problems: it reads them from a file "
                        "(--problems FILE, JSONL with a question and an answer on each line)")

    def problem_from_row(self, row: dict, id: str) -> Problem:
        """A problem from one JSONL row; a row without a question or an answer is a ``UserError``."""
        question = _field(row, (self.question_field,) if self.question_field else QUESTION_FIELDS, "question")
        reference = _field(row, (self.answer_field,) if self.answer_field else ANSWER_FIELDS, "answer")
        return self.make_problem(question, reference, id)

    def parse_user_input(self, words: list[str], numbers: list[str] | None = None, target=None,
                         cli: bool = True) -> Problem:
        """The question as typed, and ``target`` as its reference when given (``numbers`` are not read)."""
        question = " ".join(words)
        if not question.strip():
            raise UserError('give the question, e.g. ponder solve "What is 15% of 80?" --task math --target 12'
                            if cli else "give the question in words")
        return self.make_problem(question, target)

    def make_problem(self, numbers, target=None, id: str = "user") -> Problem:
        """A problem from a question (``numbers``: the text, or its words as a list) and, when
        known, a reference (``target``: a bare answer or a full solution)."""
        question = question_text(numbers, self.name)
        reference = ""
        if target is not None:
            reference = reference_answer(target)
            if reference is None:
                raise UserError(f"no final answer found in the reference {str(target)[:80]!r}")
        return Problem(id=str(id), task=self.name, question=question, reference=reference)

    # -- what the model reads and writes

    def prompt(self, problem: Problem, style: str = "") -> str:
        return self.template.replace("{question}", problem.question)  # not format(): LaTeX has braces

    def _own(self, text: str) -> str:
        """The completion up to where the model starts a new question (see ``stop``)."""
        return text.split(self.stop, 1)[0] if self.stop else text

    def steps(self, text: str) -> list[str]:
        """The completion's pieces between separators; the one with the answer is the last step."""
        return [piece.strip() for piece in self._own(text).split(self.step_separator) if piece.strip()]

    def answer(self, text: str) -> str | None:
        return extract_answer(self._own(text))

    def final_answer(self, text: str) -> str | None:
        """The answer a completion states (a box, or "the answer is"), not merely its last number:
        a step-level search ends a line of reasoning only there."""
        own = self._own(text)
        return last_boxed(own) or _stated(own)

    def check(self, problem: Problem, answer: str | None) -> bool:
        return equivalent(answer, problem.reference)

    def summary(self, problem: Problem, text: str) -> str:
        n = len(self.steps(text))
        answer = self.answer(text)
        head = f"{n} step{'s' * (n != 1)}"
        return f"{head}; answer {answer}." if answer is not None else f"{head}; no answer found."


def _field(row: dict, names: tuple[str, ...], what: str) -> str | int | float:
    """The first of ``names`` that the row fills in; ``UserError`` naming them all when none is."""
    for name in names:
        value = row.get(name)
        if value is not None and str(value).strip():
            return value
    raise UserError(f"no {what}: expected a field {' or '.join(map(repr, names))}")
