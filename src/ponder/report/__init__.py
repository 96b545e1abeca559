"""Sweeps (JSONL) into plots (PNG) and one HTML page: accuracy against thinking compute."""

from ponder.report.scaling import load_rows, plot_scaling, tokens_to_reach, write_html

__all__ = ["load_rows", "plot_scaling", "tokens_to_reach", "write_html"]
