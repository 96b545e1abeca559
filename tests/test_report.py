"""The sweep report: rows measured on different problem sets never share a plot; policies measured on the
same problems do, each line naming its policy."""

from ponder.report import tokens_to_reach
from ponder.report.scaling import by_task, lines


def row(strategy, n, accuracy, tokens, budget=None, seed=0, model=None, context=None):
    return {"task": "countdown", "source": "test-unseen", "n": n, "seed": seed, "strategy": strategy, "model": model,
            "reward": None, "budget": budget, "accuracy": accuracy, "tokens_per_problem": tokens, "context": context}


def test_rows_are_grouped_by_problem_set_and_lines_name_their_policy_where_several_share_it():
    rows = [row("greedy", 24, 0.5, 900), row("greedy", 16, 0.4, 950), row("majority", 16, 0.6, 3000, 3800),
            row("greedy", 16, 0.3, 940, seed=1), row("greedy", 16, 0.5, 960, model="nano-rl")]
    groups = by_task(rows)
    assert sorted(groups) == ["countdown (test-unseen, 16 problems, nano-rl)", "countdown (test-unseen, 16 problems, seed 1)",
                              "countdown (test-unseen, 24 problems)"]
    shared = groups["countdown (test-unseen, 16 problems, nano-rl)"]
    assert [r["strategy"] for r in shared] == ["greedy", "majority", "greedy"]
    assert sorted(lines(shared)) == ["greedy", "greedy [nano-rl]", "majority"]
    one = [row("parallel", 16, 0.7, 1800, model="m", context=c) for c in (1536, 2048)]
    assert sorted(lines(one)) == ["parallel [context 1536]", "parallel [context 2048]"]


def test_tokens_to_reach_best_of_n():
    rows = [row("best-of-n", 16, 0.25, 500, 1000), row("best-of-n", 16, 0.5, 3900, 4000),
            row("best-of-n", 16, 0.375, 15000, 16000), row("auto", 16, 0.5, 900, 1000),
            row("greedy", 16, 0.4, 950)]
    goal, reach = tokens_to_reach(rows)
    assert goal == 0.5
    assert reach == {"auto": 900, "best-of-n": 3900, "greedy": None}
    assert list(lines(rows)["best-of-n"][i]["tokens_per_problem"] for i in range(3)) == [500, 3900, 15000]


def test_the_page_plots_against_tokens_and_seconds_with_intervals(tmp_path):
    from ponder.report import write_html

    rows = [{**row("greedy", 100, 0.5, 900), "seconds_per_problem": 0.2},
            {**row("majority", 100, 0.64, 3600, 4000), "seconds_per_problem": 0.9}]
    page = write_html(rows, tmp_path).read_text()
    title = "countdown--test-unseen--100-problems"
    assert (tmp_path / f"{title}.png").stat().st_size and (tmp_path / f"{title}-seconds.png").stat().st_size
    assert "40.4–59.6%" in page and "54.2–72.7%" in page  # Wilson 95% intervals of 50/100 and 64/100
    assert "href='explorer.html'" in page and (tmp_path / "explorer.js").stat().st_size  # saved searches open beside it


def write_run(path, evals):
    """A training run's metrics.jsonl: a step line, a rollout line and evaluations at (step, accuracy, flops)."""
    import json

    path.mkdir(parents=True)
    rows = [{"step": 1, "train/loss": 1.0}, {"step": 1, "round": 1, "rollout/reward_mean": 0.3, "rollout/truncated": 0.1}]
    rows += [{"step": s, "eval/countdown/accuracy": a, "compute/flops": f} for s, a, f in evals]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_training_report_draws_the_scaling_curve(tmp_path):
    from ponder.report.training import load_run, scaling_points, write_training_report

    run = write_run(tmp_path / "ei", [(0, 0.4, 0.0), (20, 0.5, 1e12), (40, 0.55, 2e12)])
    name, rows = load_run(run)
    assert name == "ei" and scaling_points(rows, "eval/countdown/accuracy") == [(0.0, 0.4), (1e12, 0.5), (2e12, 0.55)]
    page = write_training_report([run, run / "metrics.jsonl"], tmp_path / "report")
    assert (tmp_path / "report" / "training-scaling.png").stat().st_size > 0
    assert (tmp_path / "report" / "metrics.png").stat().st_size > 0
    assert "55.0%" in page.read_text()


def test_report_command_tells_sweeps_and_runs_apart(tmp_path):
    import json

    from conftest import run_ponder

    run = write_run(tmp_path / "ei", [(0, 0.4, 0.0), (20, 0.5, 1e12)])
    sweep = tmp_path / "sweep.jsonl"
    sweep.write_text(json.dumps(row("greedy", 16, 0.4, 950)) + "\n")
    ok = run_ponder("report", run, "--out", tmp_path / "r")
    assert "training report written" in ok.stdout
    mixed = run_ponder("report", run, sweep, "--out", tmp_path / "m", check=False)
    assert mixed.returncode == 2 and "not both" in mixed.stderr
