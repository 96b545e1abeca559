"""Malformed input at every option and field, as a hostile user would send it; what each one gave.

    python benchmarks/hostile.py            # both tables
    python benchmarks/hostile.py --server   # the server's only (in-process, about a minute)

The command-line table runs ``ponder`` in a subprocess per case (a hang is a case that runs past
``--timeout``); each must exit 2 with one ``ponder: error:`` line. The server table posts each body
to the app in this process; each must get a 4xx in OpenAI's error format, and the server must still
answer a good request after it. Every case here is invalid input, so an exit 0 or a 200 is a
silent acceptance. Printed: the count of each outcome and every case that was not a clean refusal.
"""

from __future__ import annotations

import argparse
import json
import shutil
import struct
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

GOOD_PROBLEM = "4 6 10 -> 34"


def hostile_files(d: Path) -> None:
    """Problem files, paths and model directories that are wrong in one way each."""
    from ponder.backends.nano import model_path

    (d / "binary.jsonl").write_bytes(b"\xff\xfe\x00binary")
    (d / "null.jsonl").write_text('{"numbers": null, "target": 5}\n')
    (d / "deep.jsonl").write_text("[" * 5000 + "\n")
    (d / "text.jsonl").write_text("hello\n")
    (d / "empty.jsonl").write_text("")
    (d / "adir").mkdir()
    (d / "afile").write_text("x")
    for name in ("json", "truncated", "header", "shapes", "key", "noweights"):
        shutil.copytree(model_path("nano-sft"), d / name)
    (d / "json" / "ponder.json").write_text("{not json")
    (d / "noweights" / "model.safetensors").unlink()
    weights = d / "truncated" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:5000])
    weights = d / "header" / "model.safetensors"
    weights.write_bytes(struct.pack("<Q", 10 ** 15) + weights.read_bytes()[8:])
    for name, change in (("shapes", {"d_model": 384}), ("key", {"colour": "red"})):
        doc = json.loads((d / name / "ponder.json").read_text())
        doc["model"].update(change)
        (d / name / "ponder.json").write_text(json.dumps(doc))


COUNTS = ["-1", "0", "abc", "1.5", "", "nan"]
NUMBERS = ["nan", "inf", "-1", "abc", ""]
PATHS = ["", "{d}/adir", "{d}/afile/x", "{d}/missing/deeper/x.jsonl"]
MODELS = ["{d}/json", "{d}/truncated", "{d}/header", "{d}/shapes", "{d}/key", "{d}/noweights", "{d}/missing",
          "{d}/afile", "hf:{d}/missing", "openai:x@notaurl", "vllm:{d}/missing"]
PROBLEM_FILES = ["{d}/binary.jsonl", "{d}/null.jsonl", "{d}/deep.jsonl", "{d}/text.jsonl", "{d}/empty.jsonl",
                 "{d}/adir", "{d}/missing.jsonl"]
PROBLEMS = ["² 6 10 -> 34", "9" * 5000 + " 6 10 -> 34", "4 6 10 -> 34 -> 5", "4 6 10 ->", "-> 34", "4 6 -1 -> 34",
            "4 6 10 -> 9999999999999", "\u202e4 6 10 -> 34", "four six ten -> 34", "4 6 10 11 12 13 14 -> 34"]


def cli_cases() -> list[list[str]]:
    solve = ["solve", GOOD_PROBLEM, "--task", "countdown-3"]
    evaluate = ["eval", "--task", "countdown-3", "--limit", "2"]
    cases = [["solve", p, "--task", "countdown-3"] for p in PROBLEMS]
    for flag in ("--budget", "--n", "--seed"):
        cases += [solve + ["--strategy", "majority", flag, v] for v in COUNTS if not (flag == "--seed" and v in ("-1", "0"))]
    cases += [solve + ["--temperature", v] for v in NUMBERS + ["3", "1e30"]]
    cases += [solve + ["--set", s] for s in ("n=abc", "x", "=", "n=-5", "n=1e9", "temperature=nan", "width=0",
                                             "task.nope=1", "choose=luck")]
    cases += [solve + ["--strategy", s] for s in ("", "telepathy", "greedy,beam")]
    cases += [solve + ["--effort", e] for e in ("", "extreme", "LOW")]
    cases += [solve + ["--reward", r] for r in ("", "oracle", "nope", "{d}/json", "{d}/afile")]
    cases += [solve + ["--model", m] for m in MODELS]
    cases += [solve[:2] + ["--task", t] for t in ("", "chess", "countdown-9", "COUNTDOWN")]
    cases += [evaluate + ["--limit", v] for v in COUNTS]
    cases += [evaluate + ["--split", s] for s in ("", "nope", "TRAIN")]
    cases += [evaluate + ["--problems", p] for p in PROBLEM_FILES]
    cases += [evaluate + ["--output", p] for p in PATHS[:3]]
    cases += [evaluate + ["--problem-seed", v] for v in ("abc", "1.5", "")]
    sweep = ["sweep", "--task", "countdown-3", "--limit", "2", "--output", "{d}/sweep.jsonl"]
    cases += [sweep + ["--budgets", v] for v in ("", "0", "-5", "abc", "1,,2", "nan")]
    cases += [sweep + ["--multiples", v] for v in ("", "0", "-1", "abc", "inf")]
    cases += [sweep + ["--strategies", v] for v in ("", ",", "greedy,telepathy")]
    cases += [["problems", "--task", "countdown-3", "--limit", v] for v in COUNTS]
    cases += [["problems", "--task", "countdown-3", "--output", p] for p in PATHS[:3]]
    cases += [["report", p] for p in ("", "{d}/missing.jsonl", "{d}/binary.jsonl", "{d}/text.jsonl", "{d}/adir")]
    cases += [["demo", "--problems", v] for v in COUNTS] + [["demo", "--out", p] for p in ("", "{d}/afile")]
    cases += [["export", "hf", "--model", m, "--out", "{d}/hf"] for m in MODELS[:8]]
    cases += [["export", "hf", "--out", p] for p in ("", "{d}/afile")]
    serve = ["serve", "--task", "countdown-3"]
    for flag in ("--port", "--max-queue", "--max-active", "--max-body", "--max-budget"):
        cases += [serve + [flag, v] for v in ("-1", "abc", "") + (("99999",) if flag == "--port" else ("0",))]
    cases += [serve + ["--timeout", v] for v in NUMBERS + ["0"]]
    cases += [serve + ["--effort", "extreme"], serve + ["--log-level", "bogus"], serve + ["--task", "chess"],
              serve + ["--model", "{d}/json"], serve + ["--upstream", "notaurl"], serve + ["--backend", "tpu"]]
    for trainer in ("sft", "ei", "grpo", "rm", "selfplay", "r3", "rise"):
        train = ["train", trainer, "--out", "{d}/run-" + trainer]
        cases += [train + ["--set", s] for s in ("nope=1", "lr=nan", "lr=-1", "seed=abc", "x", "checkpoint_every=0")]
        cases += [train + ["--recipe", "nope"], train + ["--resume"], ["train", trainer, "--out", "{d}/afile"]]
    cases += [["train", "sft", "--out", "{d}/r", "--set", s] for s in ("steps=abc", "steps=0", "examples=0",
                                                                       "micro_tokens=1", "model.d_model=7")]
    cases += [["profile", "--base-url", u] for u in ("", "notaurl", "http://127.0.0.1:9")]
    cases += [["nope"], [], ["solve", "--numbers"], ["solve", "--numbers", "a", "b", "--target", "c"]]
    return cases


def run_cli(d: Path, timeout: float) -> Counter:
    outcomes: Counter = Counter()
    for case in cli_cases():
        argv = [a.replace("{d}", str(d)) for a in case]
        try:
            done = subprocess.run([sys.executable, "-m", "ponder.cli", *argv], capture_output=True, text=True,
                                  timeout=timeout, cwd=d)
        except subprocess.TimeoutExpired:
            outcome, said = "hang", ""
        else:
            lines = done.stderr.strip().splitlines()
            said = lines[-1][:120] if lines else ""
            if "Traceback" in done.stderr:
                outcome = "traceback"
            elif done.returncode == 0:
                outcome = "accepted"
            elif done.returncode == 2 and len(lines) == 1 and lines[0].startswith("ponder: error:"):
                outcome = "refused"
            else:
                outcome = f"exit {done.returncode}"
        outcomes[outcome] += 1
        if outcome != "refused":
            print(f"  {outcome:<10} ponder {' '.join(case)[:90]} | {said}", flush=True)
    return outcomes


def server_cases() -> list[tuple[str, object]]:
    def chat(**fields):
        return {"messages": [{"role": "user", "content": GOOD_PROBLEM}], "max_tokens": 8, **fields}

    bad = [None, True, -1, 0, 1.5, "abc", "", [], {}, 10 ** 400, "9" * 5000, float("nan")]
    cases: list[tuple[str, object]] = []
    for field, good_types in (("reasoning_effort", ()), ("strategy", ()), ("reward", ()), ("budget", ()),
                              ("samples", ()), ("n", ()), ("temperature", ()), ("max_tokens", ()), ("seed", ()),
                              ("stream", ()), ("stop", ()), ("stream_options", ()), ("include_reasoning", ()),
                              ("strategy_options", ()), ("max_completion_tokens", ()), ("model", ())):
        for value in bad:
            if value is None or (field in ("seed",) and value in (0,)) or (field == "strategy_options" and value == {}):
                continue  # null (and a seed of 0, no options) are what a request without the field means
            if (field == "temperature" and value in (0, 1.5)) or (field in ("stream", "include_reasoning") and value is True) \
                    or (field == "stop" and (isinstance(value, str) or value == [])) or (field == "stream_options" and value == {}):
                continue  # valid: temperatures, flags, stop strings, no stream options
            cases.append(("/v1/chat/completions", chat(**{field: value})))
    for content in ("", "   ", None, 5, [], [{"type": "image"}], "² 6 10 -> 34", "9" * 5000 + " 6 -> 34",
                    "4 6 10 -> 34 -> 5", "x" * 50_000):
        cases.append(("/v1/chat/completions", {"messages": [{"role": "user", "content": content}]}))
    for messages in (None, "text", [], [None], [{"role": 5}], [{"role": "wizard", "content": "x"}],
                     [{"role": "system", "content": "x"}], [{"content": GOOD_PROBLEM}]):
        cases.append(("/v1/chat/completions", {"messages": messages}))
    for strategy, options in (("sample", {"temperature": 1e30}), ("sample", {"top_p": 0}), ("beam", {"expand": 1.5}),
                              ("majority", {"n": "abc"}), ("majority", {"n": -5}), ("beam", {"width": 0}),
                              ("auto", {"probe": 0}), ("adaptive", {"batch": 0}), ("auto", {"confident": "x"}),
                              ("mcts", {"choose": "luck"}), ("beam", {"nope": 1}), ("revise", {"style": 5}),
                              ("self-verify", {"question": "x" * 5000}), ("think", {"waits": -1})):
        cases.append(("/v1/chat/completions", chat(strategy=strategy, strategy_options=options)))
    for field in ("prompt", "n", "temperature", "top_p", "top_k", "max_tokens", "stop", "seed", "logprobs", "stream"):
        for value in ([] if field != "prompt" else [5, [], [5], ["x"] * 20]) + [-1, "abc", 1.5e9, float("nan")]:
            if (field == "prompt" and value == "abc") or (field in ("seed", "stop") and value in (-1, "abc")):
                continue  # any text is a prompt or a stop string; a seed may be negative
            cases.append(("/v1/completions", {"prompt": "countdown 4 6 10 -> 34\n", "max_tokens": 4, field: value}))
    cases += [("/v1/chat/completions", raw) for raw in (b"", b"{", b"[" * 100_000, b"\xff\xfe", b"null", b"[]",
                                                         b'{"messages": NaN}', b"1" * 5000)]
    return cases


def run_server() -> Counter:
    from fastapi.testclient import TestClient

    from ponder.serve.app import ServeConfig, Server, create_app

    outcomes: Counter = Counter()
    app = create_app(Server(ServeConfig(task="countdown-3", max_body=100_000)))
    with TestClient(app, raise_server_exceptions=False) as client:
        for path, body in server_cases():
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            r = client.post(path, content=data, headers={"Content-Type": "application/json"})
            try:
                error = r.json().get("error") if isinstance(r.json(), dict) else None
            except ValueError:
                error = None
            if r.status_code >= 500:
                outcome = "5xx"
            elif r.status_code < 400:
                outcome = "accepted"
            elif not (isinstance(error, dict) and error.get("message") and error.get("type")):
                outcome = "4xx, not OpenAI's format"
            else:
                outcome = "refused"
            outcomes[outcome] += 1
            if outcome != "refused":
                print(f"  {outcome:<10} POST {path} {data[:100]!r} | {r.status_code} {r.text[:100]}", flush=True)
            good = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": GOOD_PROBLEM}],
                                                              "max_tokens": 4})
            if good.status_code != 200:
                outcomes["the next good request failed"] += 1
    return outcomes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cli", action="store_true", help="only the command-line table")
    ap.add_argument("--server", action="store_true", help="only the server table")
    ap.add_argument("--timeout", type=float, default=120, help="seconds after which a command counts as a hang")
    args = ap.parse_args()
    both = not (args.cli or args.server)
    if args.server or both:
        print(f"server: {len(server_cases())} malformed requests")
        print(f"server: {dict(run_server())}")
    if args.cli or both:
        with tempfile.TemporaryDirectory() as d:
            hostile_files(Path(d))
            print(f"cli: {len(cli_cases())} malformed invocations")
            print(f"cli: {dict(run_cli(Path(d), args.timeout))}")


if __name__ == "__main__":
    main()
