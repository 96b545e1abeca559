"""The ``ponder`` command as a user runs it: subprocesses, exit codes, one-line errors."""

import argparse
import json
import re

import pytest
from conftest import run_ponder

needs_default = pytest.mark.shipped("nano-v2")


@pytest.mark.parametrize("args,message", [
    (["solve", "--numbers", "25", "3", "x", "--target", "66"], "whole non-negative"),
    (["solve", "--numbers", "25", "3", "7", "--target", "5000"], "10..100"),
    (["solve", "--numbers", "25", "3", "7"], "needs a target"),
    (["solve", "1 2 3", "--task", "game24"], "exactly 4"),
    (["solve", "1", "2", "3", "--task", "game24"], "exactly 4"),  # unquoted numbers are read too
    (["solve", "25", "3", "7", "9", "--target", "500"], "10..100"),
    (["solve", "1 2 3 4", "--task", "chess"], "unknown task"),
    (["solve", "--numbers", "25", "3", "--target", "28", "--model", "/nonexistent/model"], "not found"),
    (["eval", "--problems", "/nonexistent.jsonl"], "not found"),
    (["eval", "--split", "nope"], "unknown split"),
    (["eval", "--strategy", "telepathy"], "unknown strategy"),
    (["eval", "--limit", "0"], "--limit"),
    (["eval", "--limit", "many"], "invalid int"),
    (["solve", "4 7 8 8", "--task", "game24", "--backend", "tpu"], "invalid choice"),
    (["solve", "4 7 8 8", "--task", "game24", "--model", "hf:/nonexistent"], "not found"),
    (["eval", "--strategy", "beam", "--set", "verify_tokens=3"], "has no such option"),
    (["eval", "--strategy", "self-verify", "--set", "pick=loudest"], "pick must be"),
    (["eval", "--task", "math", "--set", "task.colour=red"], "no such option"),
    (["solve", "--task", "math"], "give the question"),
    (["eval", "--task", "math", "--set", "task.step_separator="], "step_separator must not be empty"),
    (["train", "sft", "--recipe", "nope"], "unknown recipe"),
    (["train", "ei", "--set", "group=0"], "group must be at least 1"),
    (["train", "ei", "--set", "task=chess", "--out", "/nonexistent/run"], "unknown task"),
    (["train", "ei", "--init", "/nonexistent/model", "--out", "/nonexistent/run"], "model not found"),
    (["train", "grpo", "--init", "nano-large", "--out", "/nonexistent/run"], "one of: nano-v2, nano-v2-sft, nano-v2-par, nano-rl, nano-sft"),
    (["eval", "--model", "nano-large", "--limit", "1"], "one of: nano-v2, nano-v2-sft, nano-v2-par, nano-rl, nano-sft"),
])
def test_user_mistakes_get_one_line_and_exit_2(args, message, capsys):
    code, err = in_process(args, capsys)
    assert code == 2 and len(err) == 1 and err[0].startswith("ponder: error:") and message in err[0], err


def in_process(argv, capsys) -> tuple[int, list[str]]:
    """``ponder *argv`` run in this process (as the entry point does): its exit code and the lines
    it wrote to stderr. The entry point itself is tested in a subprocess below."""
    from ponder.cli import main

    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse's own errors
        code = e.code
    return code, capsys.readouterr().err.strip().splitlines()


def test_the_entry_point_exits_2_with_one_line():
    proc = run_ponder("solve", "--numbers", "25", "3", "x", "--target", "66", check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("ponder: error:"), proc.stderr


def test_problems_command_writes_a_file_eval_can_read(tmp_path):
    path = tmp_path / "p.jsonl"
    run_ponder("problems", "--task", "countdown-3", "--split", "val", "--limit", "4", "--output", str(path))
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 4 and all(len(r["numbers"]) == 3 and "target" in r and "id" in r for r in rows)


@needs_default
def test_solve_game24_human_and_json():
    text = run_ponder("solve", "4 7 8 8", "--task", "game24").stdout
    assert "answer:" in text and "reasoning:" in text and "tokens:" in text
    out = json.loads(run_ponder("solve", "--numbers", "25", "3", "7", "10", "--target", "66", "--json").stdout.strip().splitlines()[-1])
    assert {"answer", "reasoning_summary", "usage", "correct"} <= set(out)
    assert out["usage"]["completion_tokens"] > 0 and "reasoning" not in out
    impossible = json.loads(run_ponder("solve", "25 3 7 9 -> 66", "--json").stdout)  # no solution: said at once
    assert impossible["answer"] is None and "has no solution" in impossible["no_solution"]
    assert impossible["usage"]["completion_tokens"] == 0
    full = json.loads(run_ponder("solve", "4 7 8 8", "--task", "game24", "--json", "--show-reasoning").stdout)
    assert full["reasoning"].count("\n") >= 1


@needs_default
def test_eval_json_contract_and_output_file(tmp_path):
    problems = tmp_path / "p.jsonl"
    problems.write_text("\n".join(json.dumps({"id": f"q{i}", "numbers": n, "target": t})
                                  for i, (n, t) in enumerate([([10, 2, 3], 23), ([4, 5, 6], 26), ([50, 2, 1], 49)])) + "\n")
    out = tmp_path / "out.jsonl"
    proc = run_ponder("eval", "--task", "countdown-3", "--problems", str(problems), "--output", str(out), "--json")
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("task", "strategy", "n", "accuracy", "tokens_per_problem", "seconds_per_problem"):
        assert key in summary
    assert summary["n"] == 3
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["q0", "q1", "q2"]
    assert all({"answer", "correct", "tokens"} <= set(r) for r in rows)
    assert summary["correct"] == sum(r["correct"] for r in rows)
    assert summary["accuracy"] == pytest.approx(summary["correct"] / 3, abs=1e-4)  # printed to 4 places


@needs_default
def test_eval_sample_strategy_is_seeded():
    a = json.loads(run_ponder("eval", "--task", "countdown-3", "--limit", "8", "--strategy", "sample", "--seed", "3", "--json").stdout)
    b = json.loads(run_ponder("eval", "--task", "countdown-3", "--limit", "8", "--strategy", "sample", "--seed", "3", "--json").stdout)
    assert a["accuracy"] == b["accuracy"] and a["tokens_per_problem"] == b["tokens_per_problem"]


def test_help_is_fast_and_clean():
    proc = run_ponder("--help")
    assert "solve" in proc.stdout and "eval" in proc.stdout and "train" in proc.stdout


@pytest.mark.parametrize("args,message", [
    (["eval", "--strategy", "best-of-n", "--reward", "oracle"], "oracle"),
    (["eval", "--effort", "extreme"], "--effort must be one of none, minimal, low, medium, high, xhigh, auto"),
    (["eval", "--strategy", "greedy", "--n", "4"], "does not apply"),
    (["eval", "--budget", "0"], "--budget"),
    (["eval", "--context", "99999"], "--context must be from 16 to the policy's own context, 2048 tokens"),
    (["sweep", "--strategies", "greedy,telepathy"], "unknown strategy"),
    (["report", "/nonexistent.jsonl"], "not found"),
    (["train", "sft", "--log-to", "tensorboard,mlflow"], "unknown metrics sink 'mlflow'"),
    (["eval", "--task", "rg:countdwn"], "no dataset 'countdwn'"),
])
def test_search_mistakes_are_one_line_errors(args, message, capsys):
    code, err = in_process(args, capsys)
    assert code == 2 and len(err) == 1 and message in err[0], err


@needs_default
def test_effort_low_is_greedy():
    low = json.loads(run_ponder("solve", "4 7 8 8", "--task", "game24", "--effort", "low", "--json").stdout)
    greedy = json.loads(run_ponder("solve", "4 7 8 8", "--task", "game24", "--json").stdout)
    assert low["strategy"] == "greedy" and low["answer"] == greedy["answer"] and low["usage"] == greedy["usage"]


@needs_default
def test_sweep_resumes_and_report_draws_it(tmp_path):
    out = tmp_path / "sweep.jsonl"
    args = ["sweep", "--task", "countdown-3", "--limit", "3", "--strategies", "greedy,majority",
            "--multiples", "1,3", "--output", str(out)]
    run_ponder(*args)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["strategy"], r["budget"] is None) for r in rows] == [("greedy", True), ("majority", False), ("majority", False)]
    assert all(r["tokens_per_problem"] <= (r["budget"] or 10**9) for r in rows)
    assert {r["model"] for r in rows} == {"nano-v2"}
    again = run_ponder(*args)
    assert "(0 new points)" in again.stdout and len(out.read_text().splitlines()) == 3
    cooler = run_ponder(*args, "--set", "temperature=0.5")  # an option makes new points
    assert "(3 new points)" in cooler.stdout
    assert json.loads(out.read_text().splitlines()[-1])["options"] == {"temperature": 0.5}
    assert "none of the strategies" in run_ponder(*args, "--set", "widen=0.7", check=False).stderr
    older = [{k: v for k, v in json.loads(line).items() if k != "context"} for line in out.read_text().splitlines()[:3]]
    out.write_text("".join(json.dumps(r) + "\n" for r in older))  # rows that do not say: at the policy's own context
    assert "(0 new points)" in run_ponder(*args).stdout
    other = run_ponder(*args[:-4], "--strategies", "greedy", "--model", "nano-sft", "--output", str(out))
    assert "(1 new points)" in other.stdout and json.loads(out.read_text().splitlines()[-1])["model"] == "nano-sft"
    capped = tmp_path / "capped.jsonl"  # no budget beside a number of tokens, in a context shorter than the policy's
    run_ponder("sweep", "--task", "countdown-3", "--limit", "3", "--strategies", "greedy,majority", "--budgets", "none,300",
               "--context", "256", "--output", str(capped))
    rows = [json.loads(line) for line in capped.read_text().splitlines()]  # greedy too is capped at a budget given
    assert [(r["strategy"], r["budget"], r["context"]) for r in rows] == [
        ("greedy", None, 256), ("majority", None, 256), ("greedy", 300, 256), ("majority", 300, 256)]
    shorter = run_ponder("sweep", "--task", "countdown-3", "--limit", "3", "--strategies", "greedy", "--budgets", "none",
                         "--context", "200", "--output", str(capped))  # another context: another point
    assert "(1 new points)" in shorter.stdout
    report = run_ponder("report", str(out), "--out", str(tmp_path / "report"))
    assert "majority" in report.stdout
    assert (tmp_path / "report" / "index.html").is_file() and list((tmp_path / "report").glob("*.png"))


def hostile_files(tmp_path):
    """Files a careless or hostile user might point ponder at."""
    import shutil
    import struct

    from ponder.backends.nano import model_path

    (tmp_path / "binary.jsonl").write_bytes(b"\xff\xfe\x00binary")
    (tmp_path / "null.jsonl").write_text('{"numbers": null, "target": 5}\n')
    (tmp_path / "deep.jsonl").write_text("[" * 5000 + "\n")
    (tmp_path / "ok.jsonl").write_text('{"numbers": [4, 6, 10], "target": 34}\n')
    (tmp_path / "array.jsonl").write_text("[1]\n")
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("x")
    shipped = model_path("nano-sft")
    for name in ("json", "truncated", "header", "shapes", "key"):
        shutil.copytree(shipped, tmp_path / name)
    (tmp_path / "json" / "ponder.json").write_text("{not json")
    weights = (tmp_path / "truncated" / "model.safetensors")
    weights.write_bytes(weights.read_bytes()[:5000])
    weights = (tmp_path / "header" / "model.safetensors")
    weights.write_bytes(struct.pack("<Q", 10 ** 15) + weights.read_bytes()[8:])
    for name, change in (("shapes", {"d_model": 384}), ("key", {"colour": "red"})):
        doc = json.loads((tmp_path / name / "ponder.json").read_text())
        doc["model"].update(change)
        (tmp_path / name / "ponder.json").write_text(json.dumps(doc))


HOSTILE = [  # (command line, what the one line must say); {d} is a folder of hostile_files
    ("solve '² 3 7 9 -> 66'", "whole non-negative numbers"),
    ("solve '" + "9" * 5000 + " 3 7 9 -> 66'", "at most 12 digits"),
    ("solve '25 3 7 9 -> 66 -> 5'", "one target"),
    ("solve '4 6 10 -> 34' --task countdown-3 --temperature nan", "--temperature must be a number"),
    ("solve '4 6 10 -> 34' --task countdown-3 --strategy majority --set n=abc", "--set n must be an integer"),
    ("solve '4 6 10 -> 34' --task countdown-3 --strategy majority --set n=-5", "--set n must be an integer"),
    ("solve '4 6 10 -> 34' --task countdown-3 --strategy beam --set width=0", "--set width must be an integer"),
    ("solve '4 6 10 -> 34' --task countdown-3 --strategy sample --set temperature=1e30", "--set temperature"),
    ("eval --task countdown-3 --problems {d}/binary.jsonl", "not UTF-8"),
    ("eval --task countdown-3 --problems {d}/null.jsonl", '"numbers", a list'),
    ("eval --task countdown-3 --problems {d}/deep.jsonl", "nested too deeply"),
    ("report {d}/array.jsonl", "not a sweep row"),
    ("eval --task countdown-3 --problems {d}/ok.jsonl --output {d}/adir", "is a directory"),
    ("eval --task countdown-3 --problems {d}/ok.jsonl --output {d}/afile/x.jsonl", "is a file"),
    ("eval --task countdown-3 --problems {d}/ok.jsonl --output ''", "needs a file name"),
    ("train sft --set examples=0 --out {d}/run", "examples must be at least 1"),
    ("train sft --set steps=abc --out {d}/run", "steps must be an integer"),
    ("train ei --set lr=nan --out {d}/run", "lr must be a number"),
    ("train sft --out {d}/afile", "is a file"),
    ("serve --port 99999", "from 0 to 65535"),
    ("serve --log-level bogus", "invalid choice"),
    ("serve --timeout nan", "--timeout"),
    ("solve '4 6 10 -> 34' --task countdown-3 --model {d}/json", "is not a ponder model description"),
    ("solve '4 6 10 -> 34' --task countdown-3 --model {d}/truncated", "not a readable safetensors file"),
    ("solve '4 6 10 -> 34' --task countdown-3 --model {d}/header", "not a readable safetensors file"),
    ("solve '4 6 10 -> 34' --task countdown-3 --model {d}/shapes", "does not match the model"),
    ("solve '4 6 10 -> 34' --task countdown-3 --model {d}/key", "unexpected keyword argument 'colour'"),
    ("export hf --model {d}/truncated --out {d}/hf", "not a readable safetensors file"),
    ("solve '4 6 10 -> 34' --task countdown-3 --strategy best-of-n --reward {d}/json", "not a ponder model"),
]


@pytest.mark.shipped("nano-rl", "nano-sft")
def test_hostile_invocations_get_one_line_and_exit_2(tmp_path, capsys):
    """Each was a traceback, a hang or a silent acceptance (issue 31). Run in this process: a
    traceback fails the test as it would have reached the user."""
    import shlex

    from ponder.cli import main

    hostile_files(tmp_path)
    for line, message in HOSTILE:
        argv = shlex.split(line.replace("{d}", str(tmp_path)))
        try:
            code = main(argv)
        except SystemExit as e:  # argparse's --help and the like
            code = e.code
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and err[0].startswith("ponder: error:") and message in err[0], (line, err)


def test_a_port_in_use_is_a_one_line_error(capsys):
    import socket

    from conftest import needs_module
    from ponder.cli import main

    needs_module("uvicorn")
    needs_module("fastapi")

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert main(["serve", "--port", str(taken.getsockname()[1]), "--task", "countdown-3"]) == 2
    assert "cannot listen on 127.0.0.1" in capsys.readouterr().err


@needs_default
def test_eval_output_is_never_truncated_and_resumes_to_the_same_rows(tmp_path, capsys):
    from ponder.cli import main

    problems = tmp_path / "p.jsonl"
    assert main(["problems", "--task", "countdown-3", "--split", "test", "--limit", "6", "--output", str(problems)]) == 0
    whole, parts = tmp_path / "whole.jsonl", tmp_path / "parts.jsonl"
    command = ["eval", "--task", "countdown-3", "--problems", str(problems), "--json"]
    assert main(command + ["--output", str(whole)]) == 0
    assert main(command + ["--output", str(parts), "--limit", "3"]) == 0
    with parts.open("a") as f:
        f.write('{"id": "half a row')  # what a crash mid-write leaves
    capsys.readouterr()
    assert main(command + ["--output", str(parts)]) == 2  # a rerun would lose what is there
    assert "already holds results" in capsys.readouterr().err
    assert main(command + ["--output", str(parts), "--resume"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 6
    assert parts.read_text() == whole.read_text()


def example_solves() -> list[tuple[str, str]]:
    """(where, command) of every ``ponder solve`` example: the README's, the docs', each command's help."""
    from pathlib import Path

    from ponder.cli import build_parser

    root = Path(__file__).resolve().parent.parent
    found = [(path.name, line.strip().split("  #")[0].strip()) for path in [root / "README.md", *(root / "docs").glob("*.md")]
             for line in path.read_text().splitlines() if line.strip().startswith("ponder solve ")]
    found += [(path.name, "ponder solve --numbers " + " ".join(m[0].split(", ")) + " --target " + m[1])
              for path in [root / "README.md", *(root / "docs").glob("*.md"), root / "src/ponder/__init__.py"]
              for m in re.findall(r"ponder\.solve\(\[([\d, ]+)\], target=(\d+)\)", path.read_text())]
    parsers = [build_parser()]
    while parsers:
        parser = parsers.pop()
        found += [(parser.prog, line.strip().split("  #")[0].strip()) for line in (parser.epilog or "").splitlines()
                  if line.strip().startswith("ponder solve ")]
        parsers += [p for action in parser._actions if isinstance(action, argparse._SubParsersAction)
                    for p in action.choices.values()]
    return found


def test_every_example_puzzle_has_a_solution():
    import shlex

    from ponder.cli import build_parser
    from ponder.cli.solve import problem_of

    examples = example_solves()
    assert len(examples) >= 8 and any(where == "README.md" for where, _ in examples)
    for where, command in examples:
        args = build_parser().parse_args(shlex.split(command)[1:])
        task, problem = problem_of(args)
        assert task.free_text or task.no_solution(problem) is None, f"{where}: {command} has no solution"
