"""The policy's own solutions, sampled once and kept: the training data of every reward model.

``sampled_solutions`` draws ``samples`` completions for each of ``problems`` training problems and
labels each with the rule verifier. The file is cached under a key of everything that decides its
content (the policy's weights, task, split, counts, temperature, seed) and written a chunk at a
time, so an interrupted run picks up where it stopped and runs with the same spec share one file.
Monte Carlo step labels are cached the same way (``monte_carlo_rows``). ``practice_rows`` adds
texts the policy did not write, for judges to learn from.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from tqdm import tqdm

from ponder.train.data import cache_dir
from ponder.types import Problem, SamplingParams


def policy_digest(policy) -> str:
    """A digest of a nano policy's weights (what decides its samples)."""
    h = hashlib.sha1()
    for name, tensor in sorted(policy.model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().float().numpy().tobytes())
    return h.hexdigest()[:16]


def _cache_file(kind: str, spec: dict) -> Path:
    key = hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir() / "rewards" / f"{kind}-{key}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    spec_path = path.with_suffix(".spec.json")
    if not spec_path.exists():
        spec_path.write_text(json.dumps(spec, indent=1))
    return path


def _read_rows(path: Path) -> list[dict]:
    """The complete lines of a JSONL file (a line cut short by a crash is dropped and rewritten)."""
    if not path.exists():
        return []
    rows, good = [], 0
    with path.open("rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                break
            rows.append(json.loads(line))
            good += len(line)
    with path.open("r+b") as f:
        f.truncate(good)
    return rows


def sampled_solutions(policy, task, problems: list[Problem], samples: int, temperature: float = 1.0, seed: int = 0,
                      chunk: int = 16, progress: bool = True, style: str = "", max_tokens: int = 0) -> list[dict]:
    """``samples`` solutions for each problem, as rows ``{"problem": {...}, "text": ...,
    "correct": bool, "tokens": int, "finish_reason": ...}`` (``problem_of(row)`` reads the
    problem back), written in ``style`` when given (the prompt asks for it; the rows say
    ``"style"``). Sample i of a problem depends only on the seed and its prompt, not on how the
    problems are batched. ``max_tokens`` caps each sample (0: up to the context)."""
    spec = {"policy": policy_digest(policy), "task": task.name, "samples": samples, "temperature": temperature,
            "seed": seed, "context": policy.max_context, **({"style": style} if style else {}),
            **({"max_tokens": max_tokens} if max_tokens else {}),
            "problems": hashlib.sha1(json.dumps([p.to_json() for p in problems]).encode()).hexdigest()[:16]}
    path = _cache_file("solutions", spec)
    rows = _read_rows(path)
    done = len(rows) // samples
    del rows[done * samples:]
    with path.open("a") as sink, tqdm(total=len(problems), initial=done, desc="sampling solutions", unit="problem",
                                      disable=not progress) as bar:
        for start in range(done, len(problems), chunk):
            batch = problems[start:start + chunk]
            prompts = [task.prompt(p, style) for p in batch]
            room = policy.max_context - max(policy.count_tokens(p) for p in prompts) - 1
            params = SamplingParams(n=samples, temperature=temperature, seed=seed,
                                    max_tokens=min(room, max_tokens) if max_tokens else room)
            for p, completions in zip(batch, policy.generate(prompts, params)):
                for c in completions:
                    row = {"problem": p.to_json(), "text": c.text, "correct": task.verify(p, c.text) == 1.0,
                           "tokens": len(c.token_ids), "finish_reason": c.finish_reason, **({"style": style} if style else {})}
                    rows.append(row)
                    sink.write(json.dumps(row) + "\n")
            sink.flush()
            bar.update(len(batch))
    return rows


PRACTICE_CHUNK = 1000
"""Practice problems are drawn this many at a time (each chunk with its own seed), so the
progress bar moves while the slow part, drawing solvable problems, runs."""


def practice_rows(task, count: int, seed: int = 0, progress: bool = True) -> list[dict]:
    """Rows like ``sampled_solutions``' for ``count`` fresh training problems, whose texts are
    solver solutions with mistaken answers (``ponder.tasks.countdown.judge.practice_text``); cheap to make,
    so they are not cached."""
    from ponder.tasks.countdown.judge import practice_text

    rng = random.Random(seed)
    rows = []
    with tqdm(total=count, desc="practice texts", unit="text", disable=not progress) as bar:
        for start in range(0, count, PRACTICE_CHUNK):
            size = min(PRACTICE_CHUNK, count - start)
            for p in task.problems("train", size, seed=(seed + 2) * 1_000_000 + start):
                text = practice_text(task, p, rng)
                rows.append({"problem": p.to_json(), "text": text, "correct": task.verify(p, text) == 1.0,
                             "tokens": None, "finish_reason": "practice"})
            bar.update(size)
    return rows


def walk_rows(task, problems: list[Problem], per_problem: int, seed: int = 0, alive: float = 0.5,
              slips: float = 0.0, progress: bool = True) -> list[dict]:
    """Rows like ``sampled_solutions``' (style ``direct``), ``per_problem`` for each problem, whose
    texts the rules write: random walks over the task's legal next steps (``Task.next_steps``),
    each step one that keeps the problem solvable with probability ``alive`` (where there is one),
    else any legal step, until the answer line or a last number that is not the target. They cost
    no sampling, and cover the steps a policy seldom proposes. With probability ``slips`` a line
    is written wrong the way a policy writes one (``Task.slip``: bad arithmetic, a number that is
    not there, a garbled answer), and the walk ends there."""
    rng = random.Random(seed)
    rows = []
    for p in tqdm(problems, desc=f"{task.name} walks ({per_problem} a problem)", unit="problem", disable=not progress):
        options: dict[str, tuple[list[str], list[str]]] = {}  # a problem's walks share their prefixes

        def next_lines(text: str) -> tuple[list[str], list[str]]:
            """Every legal next line after ``text``, and those that keep the problem solvable."""
            if text not in options:
                steps = task.next_steps(p, text) or []
                options[text] = steps, [line for line in steps if task.prefix_outcomes(p, text + line + "\n")[-1]]
            return options[text]

        for _ in range(per_problem):
            text = ""
            while (lines := next_lines(text))[0]:
                steps, good = lines
                line = rng.choice(good) if good and rng.random() < alive else rng.choice(steps)
                if slips and rng.random() < slips and (wrong := task.slip(p, line, rng)) is not None:
                    text += wrong + "\n"
                    break
                text += line + "\n"
            rows.append({"problem": p.to_json(), "text": text, "correct": task.verify(p, text) == 1.0, "tokens": None,
                         "finish_reason": "walk", "style": "direct"})
    return rows


def exact_outcomes(policy, task, row: dict) -> list[bool]:
    """Every step's exact prefix outcome (``Task.prefix_outcomes``): would a faultless search from
    the end of that step still answer, within what the policy's context leaves after its prompt?"""
    problem = problem_of(row)
    room = policy.max_context - policy.count_tokens(task.prompt(problem, row.get("style", ""))) - 1
    return task.prefix_outcomes(problem, row["text"], room=room, count=lambda line: policy.count_tokens(line) + 1)


def problem_of(row: dict) -> Problem:
    d = row["problem"]
    return Problem(id=d["id"], task=d["task"], numbers=tuple(d.get("numbers", ())), target=d.get("target"),
                   question=d.get("question", ""))


def monte_carlo_rows(policy, task, rows: list[dict], k: int, steps_per_text: int, temperature: float = 1.0,
                     seed: int = 0, chunk: int = 32, progress: bool = True, max_tokens: int = 0) -> list[list[dict]]:
    """Monte Carlo step labels for sampled solutions (cached like the solutions): for each row,
    ``[{"step": i, "outcomes": [bool] * k, "successes": int, "rollouts": k, "tokens": int}, ...]``
    (``ponder.rewards.montecarlo``; ``tokens``: what the rollouts generated), each rollout at most
    ``max_tokens`` long when given."""
    from ponder.rewards.montecarlo import monte_carlo_labels

    style = rows[0].get("style", "") if rows else ""  # rows of one style: their rollouts are asked for it
    spec = {"version": 2, "policy": policy_digest(policy), "task": task.name, "k": k, "steps": steps_per_text,
            "temperature": temperature, "seed": seed, **({"style": style} if style else {}),
            **({"max_tokens": max_tokens} if max_tokens else {}),
            "rows": hashlib.sha1(json.dumps([r["text"] for r in rows]).encode()).hexdigest()[:16]}
    path = _cache_file("montecarlo", spec)
    done = _read_rows(path)
    with path.open("a") as sink, tqdm(total=len(rows), initial=len(done), desc=f"Monte Carlo labels (k={k})",
                                      unit="solution", disable=not progress) as bar:
        for start in range(len(done), len(rows), chunk):
            batch = rows[start:start + chunk]
            items = [(problem_of(r), r["text"]) for r in batch]
            labels = monte_carlo_labels(policy, task, items, k, steps_per_text, temperature, seed=seed + start,
                                        chunk=16, style=style, max_tokens=max_tokens)
            for lab in labels:
                row = {"labels": [{"step": s.step, "outcomes": list(s.outcomes), "lengths": list(s.lengths)} for s in lab]}
                done.append(row)
                sink.write(json.dumps(row) + "\n")
            sink.flush()
            bar.update(len(batch))
    return [[{**s, "successes": sum(s["outcomes"]), "rollouts": len(s["outcomes"]), "tokens": sum(s.get("lengths", ()))}
             for s in r["labels"]] for r in done]
