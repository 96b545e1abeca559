"""The test-time scaling plot: accuracy against thinking tokens per problem, one line per strategy.

The x axis is what each point really spent (tokens per problem, log scale), not the budget it was
given; a second plot puts the seconds per problem there instead. Each point carries its 95%
interval (Wilson). The oracle ceiling, dashed, is the share of problems where some candidate the
sampling strategies considered was right (checked by rule): what a perfect judge would pick from them.
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from pathlib import Path
from typing import Sequence

from ponder.errors import UserError

CEILING_FROM = ("best-of-n", "majority", "weighted-vote")
"""Strategies whose candidates (independent samples) give the dashed oracle line, first found wins."""


def load_rows(paths: Sequence[str | Path]) -> list[dict]:
    rows = []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise UserError(f"sweep file not found: {path}")
        for k, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise UserError(f"{path}:{k}: not a JSON line") from None
            if not isinstance(row, dict) or not {"task", "strategy", "accuracy", "tokens_per_problem"} <= row.keys():
                raise UserError(f"{path}:{k}: not a sweep row (ponder sweep writes them)")
            rows.append(row)
    if not rows:
        raise UserError("the sweep files hold no rows")
    return rows


def by_task(rows: list[dict]) -> dict[str, list[dict]]:
    """Rows grouped by the problem set they were measured on (task, source, count and seed): points
    on different problems never share a plot; the policies measured on the same problems do (each
    line names its policy, and its context where they differ, when there are several)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["task"], r.get("source") or "", r.get("n") or 0, r.get("seed") or 0)].append(r)
    out = {}
    for (task, source, n, seed), group in groups.items():
        models = sorted({str(r.get("model") or "") for r in group} - {""})
        about = [a for a in (source, f"{n} problems" if n else "", f"seed {seed}" if seed else "", " & ".join(models)) if a]
        out[f"{task} ({', '.join(about)})" if about else task] = group
    return out


def label(r: dict, model: bool = False, context: bool = False) -> str:
    """A row's line: strategy, options and reward model; its policy and context when asked."""
    options = ", ".join(f"{k}={v}" for k, v in sorted((r.get("options") or {}).items()))
    name = r["strategy"] + (f" ({options})" if options else "") + (f" + {r['reward']}" if r.get("reward") else "")
    where = [str(r["model"])] if model and r.get("model") else []
    where += [f"context {r['context']}"] if context and r.get("context") else []
    return name + (f" [{', '.join(where)}]" if where else "")


def lines(rows: list[dict]) -> dict[str, list[dict]]:
    models = len({r.get("model") for r in rows}) > 1
    contexts = len({r.get("context") for r in rows}) > 1
    out: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        out[label(r, models, contexts)].append(r)
    return {k: sorted(v, key=lambda r: r["tokens_per_problem"]) for k, v in sorted(out.items())}


def ceiling(rows: list[dict]) -> list[dict]:
    for name in CEILING_FROM:
        picked = [r for r in rows if r["strategy"] == name and r.get("ceiling") is not None]
        if picked:
            return sorted(picked, key=lambda r: r["tokens_per_problem"])
    return []


def tokens_to_reach(rows: list[dict], reference: str = "best-of-n") -> tuple[float | None, dict[str, float | None]]:
    """Best-of-N's best accuracy, and for each strategy the fewest tokens per problem at which it
    reaches it (None: never, in this sweep)."""
    ref = [r["accuracy"] for r in rows if r["strategy"] == reference]
    if not ref:
        return None, {}
    goal = max(ref)
    return goal, {name: min((r["tokens_per_problem"] for r in pts if r["accuracy"] >= goal - 1e-9), default=None)
                  for name, pts in lines(rows).items()}


AXES = {"tokens_per_problem": "thinking tokens per problem (generated + reward model), log scale",
        "seconds_per_problem": "seconds per problem on this machine, log scale",
        "steps_per_problem": "sequential decoding steps per problem (latency), log scale"}
"""What a scaling plot's x axis may show: a row's key, and its label."""


def interval(r: dict) -> tuple[float, float]:
    """A row's 95% interval of accuracy (Wilson), in percent; the point itself when it has no count."""
    from ponder.rewards.metrics import wilson

    if not r.get("n"):
        return 100 * r["accuracy"], 100 * r["accuracy"]
    lo, hi = wilson(r.get("correct", round(r["accuracy"] * r["n"])), r["n"])
    return 100 * lo, 100 * hi


def plot_scaling(rows: list[dict], path: str | Path, title: str, x: str = "tokens_per_problem") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.5, 5.4), dpi=120)
    colours = plt.get_cmap("tab20").colors
    for i, (name, pts) in enumerate(lines(rows).items()):
        pts = sorted((r for r in pts if r.get(x)), key=lambda r: r[x])
        if not pts:  # rows from before this axis was kept
            continue
        ys = [100 * r["accuracy"] for r in pts]
        spans = [interval(r) for r in pts]
        ax.errorbar([r[x] for r in pts], ys, yerr=[[y - lo for y, (lo, _) in zip(ys, spans)],
                                                   [hi - y for y, (_, hi) in zip(ys, spans)]],
                    label=name, color=colours[(2 * i) % 20 + (i // 10) % 2], marker="os^Dv<>ph*"[i % 10], ms=4,
                    capsize=2, elinewidth=0.8)
    top = sorted((r for r in ceiling(rows) if r.get(x)), key=lambda r: r[x])
    if top:
        ax.plot([r[x] for r in top], [100 * r["ceiling"] for r in top], "k--", lw=1.2,
                label=f"oracle ceiling ({top[0]['strategy']}'s samples)")
    ax.set_xscale("log")
    ax.set_xlabel(AXES[x])
    ax.set_ylabel("accuracy, % (checked by rule; bars: 95% interval)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name).strip("-")


EXPLORER = ("explorer.html", "explorer.js", "playground.css")
"""The explorer's files (``ponder.serve``'s static files), copied beside a report so that it links to them."""


def copy_explorer(out: Path) -> None:
    import shutil

    static = Path(__file__).resolve().parent.parent / "serve" / "static"
    for name in EXPLORER:
        shutil.copyfile(static / name, out / name)


def write_html(rows: list[dict], out_dir: str | Path) -> Path:
    """One PNG per task and an ``index.html`` with the plots and every point as a table."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parts = ["<!doctype html><meta charset='utf-8'><title>ponder: test-time scaling</title>",
             "<style>body{font-family:sans-serif;max-width:960px;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}td:first-child{text-align:left}</style>",
             "<h1>Accuracy against thinking compute</h1>",
             "<p>Every answer checked by the task's rule verifier. Tokens per problem: what the strategy "
             "generated plus what reward models computed, as spent (not as budgeted). The dashed line is the "
             "oracle ceiling: problems where some sampled candidate was right.</p>"]
    for title, task_rows in by_task(rows).items():
        png = plot_scaling(task_rows, out / f"{_slug(title)}.png", title)
        parts.append(f"<h2>{html.escape(title)}</h2><img src='{png.name}' width='720'>")
        if any(r.get("seconds_per_problem") for r in task_rows):
            timed = plot_scaling(task_rows, out / f"{_slug(title)}-seconds.png", title, x="seconds_per_problem")
            parts.append(f"<img src='{timed.name}' width='720'>")
        if any(r.get("strategy") == "parallel" and r.get("steps_per_problem") for r in task_rows):
            chained = plot_scaling(task_rows, out / f"{_slug(title)}-steps.png", title, x="steps_per_problem")
            parts.append(f"<img src='{chained.name}' width='720'>")
        goal, reach = tokens_to_reach(task_rows)
        if goal is not None:
            parts.append(f"<p>Tokens per problem to reach best-of-N's best accuracy ({goal:.1%}):</p><table>"
                         "<tr><th>strategy</th><th>tokens</th></tr>" + "".join(
                             f"<tr><td>{html.escape(k)}</td><td>{'not reached' if v is None else f'{v:,.0f}'}</td></tr>"
                             for k, v in reach.items()) + "</table>")
        parts.append("<table><tr><th>strategy</th><th>budget</th><th>accuracy</th><th>95% interval</th><th>ceiling</th>"
                     "<th>tokens / problem</th><th>sequential / problem</th><th>s / problem</th><th>prompt recomputed</th></tr>")
        for name, pts in lines(task_rows).items():
            for r in pts:
                ceil = f"{r['ceiling']:.1%}" if r.get("ceiling") is not None else ""
                lo, hi = interval(r)
                parts.append(f"<tr><td>{html.escape(name)}</td><td>{r.get('budget') or '-'}</td>"
                             f"<td>{r['accuracy']:.1%}</td><td>{lo:.1f}–{hi:.1f}%</td><td>{ceil}</td><td>{r['tokens_per_problem']:,.0f}</td>"
                             f"<td>{r.get('steps_per_problem') or 0:,.0f}</td><td>{r.get('seconds_per_problem', 0):.2f}</td><td>{r.get('recomputed', 0):.1%}</td></tr>")
        parts.append("</table>")
    copy_explorer(out)
    parts.append("<p>What a search did on one problem (its tree, its votes or its chain): open <a href='explorer.html'>"
                 "the explorer</a> here with a file of <code>ponder eval --output F --save-search</code> rows.</p>")
    page = out / "index.html"
    page.write_text("\n".join(parts) + "\n")
    return page
