"""Training runs' ``metrics.jsonl`` into plots: the curves to watch while RL runs, and the training
scaling curve (held-out accuracy against training compute).

A run directory (or its ``metrics.jsonl``) is one line on every panel, named after the directory.
Panels show only the metrics some run wrote: SFT has a loss and evaluations, RL adds rewards,
groups with zero advantage, response lengths, truncation, KL and clipping.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Sequence

from ponder.errors import UserError

PANELS = (
    ("train/loss", "training loss"),
    ("rollout/reward_mean", "mean reward of rollouts"),
    ("rollout/zero_advantage_groups", "groups with zero advantage"),
    ("rollout/length_mean", "rollout length, tokens"),
    ("rollout/truncated", "rollouts cut at the context's end"),
    ("train/kl", "KL to the reference"),
    ("train/clip_fraction", "clipped ratios"),
    ("curriculum/start", "share of the solver trace given (reverse curriculum)"),
    ("revision/reward_mean", "revisions right, of failed attempts (RISE)"),
)
"""(metric, title): the panels drawn against optimizer steps, when a run wrote the metric."""


def is_metrics_row(row: dict) -> bool:
    return "step" in row and "strategy" not in row


def load_run(path: str | Path) -> tuple[str, list[dict]]:
    """(name, rows) of a run directory or metrics file."""
    path = Path(path)
    file = path / "metrics.jsonl" if path.is_dir() else path
    if not file.is_file():
        raise UserError(f"metrics file not found: {file}")
    rows = []
    for k, line in enumerate(file.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise UserError(f"{file}:{k}: not a JSON line") from None
    if not rows or not all(is_metrics_row(r) for r in rows):
        raise UserError(f"{file}: not a training metrics file (ponder train writes them)")
    return (file.parent.name if file.name == "metrics.jsonl" else file.stem), rows


def accuracy_keys(rows: list[dict]) -> list[str]:
    return sorted({k for r in rows for k in r if k.startswith("eval/") and k.endswith("/accuracy")})


def scaling_points(rows: list[dict], key: str) -> list[tuple[float, float]]:
    """(training FLOPs, accuracy) of every evaluation that recorded its compute."""
    return [(r["compute/flops"], r[key]) for r in rows if key in r and "compute/flops" in r]


def plot_run_metrics(runs: dict[str, list[dict]], path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(k, t) for k, t in PANELS if any(k in r for rows in runs.values() for r in rows)]
    panels += [(k, f"held-out accuracy: {k.split('/')[1]}") for k in sorted({k for rows in runs.values()
                                                                            for k in accuracy_keys(rows)})]
    if not panels:
        return None
    cols = min(3, len(panels))
    rows_n = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(4.2 * cols, 3.0 * rows_n), dpi=110, squeeze=False)
    for ax, (key, title) in zip(axes.flat, panels):
        for name, rows in runs.items():
            pts = [(r["step"], r[key]) for r in rows if key in r]
            if pts:
                ax.plot(*zip(*pts), label=name, marker="o" if len(pts) < 30 else None, ms=3)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("optimizer step", fontsize=8)
        ax.grid(True, alpha=0.3)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_training_scaling(runs: dict[str, list[dict]], path: Path) -> Path | None:
    """Held-out accuracy against training compute (FLOPs, log scale), a line per run and task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = {(name, key): scaling_points(rows, key) for name, rows in runs.items() for key in accuracy_keys(rows)}
    lines = {k: v for k, v in lines.items() if any(f > 0 for f, _ in v)}
    if not lines:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for (name, key), pts in lines.items():
        trained = [(f, a) for f, a in pts if f > 0]
        line = ax.plot([f for f, _ in trained], [100 * a for _, a in trained], marker="o", ms=4,
                       label=f"{name}: {key.split('/')[1]}")[0]
        for f, a in pts:
            if f == 0:  # before any training: no place on a log axis, so a level to compare with
                ax.axhline(100 * a, color=line.get_color(), ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("training compute, FLOPs (2N per sampled token + 6N per trained token), log scale")
    ax.set_ylabel("held-out greedy accuracy, % (checked by rule)\ndotted: before training")
    ax.set_title("accuracy against training compute")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_training_report(paths: Sequence[str | Path], out_dir: str | Path) -> Path:
    """``metrics.png``, ``training-scaling.png`` (when runs evaluated with their compute) and an
    ``index.html`` with both and each run's evaluations as a table."""
    runs = dict(load_run(p) for p in paths)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parts = ["<!doctype html><meta charset='utf-8'><title>ponder: training</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}</style>", "<h1>Training runs</h1>"]
    scaling = plot_training_scaling(runs, out / "training-scaling.png")
    if scaling:
        parts.append(f"<h2>Accuracy against training compute</h2><img src='{scaling.name}' width='720'>")
    curves = plot_run_metrics(runs, out / "metrics.png")
    if curves:
        parts.append(f"<h2>Curves</h2><img src='{curves.name}' width='1000'>")
    for name, rows in runs.items():
        evals = [r for r in rows if accuracy_keys([r])]
        if not evals:
            continue
        keys = accuracy_keys(evals)
        parts.append(f"<h2>{html.escape(name)}: evaluations</h2><table><tr><th>step</th>"
                     + "".join(f"<th>{html.escape(k)}</th>" for k in keys) + "<th>training FLOPs</th></tr>")
        for r in evals:
            cells = "".join(f"<td>{r[k]:.1%}</td>" if k in r else "<td></td>" for k in keys)
            flops = f"{r['compute/flops']:.3g}" if "compute/flops" in r else ""
            parts.append(f"<tr><td>{r['step']}</td>{cells}<td>{flops}</td></tr>")
        parts.append("</table>")
    page = out / "index.html"
    page.write_text("\n".join(parts) + "\n")
    return page
