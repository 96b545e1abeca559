"""Named training recipes: TOML files in ``ponder/recipes/`` (or any path to one).

A recipe is a complete config (``SFTConfig`` for the policy, ``RMConfig`` for reward models): with
the same recipe and seed, a run makes the same model.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from ponder.errors import UserError
from ponder.train.config import build
from ponder.train.sft import SFTConfig

RECIPE_DIR = Path(__file__).resolve().parent.parent / "recipes"


def recipe_names() -> list[str]:
    return sorted(p.stem for p in RECIPE_DIR.glob("*.toml"))


def recipe_path(name: str) -> Path:
    path = Path(name)
    if path.suffix == ".toml" and path.is_file():
        return path
    path = RECIPE_DIR / f"{name}.toml"
    if not path.is_file():
        raise UserError(f"unknown recipe {name!r}; choose one of: {', '.join(recipe_names())} (or a .toml file)")
    return path


def load_recipe(name: str, config=SFTConfig, section: str | None = None, **overrides):
    """The config a recipe describes. A recipe may hold tables of fields for one case only (the
    reward-model recipe has ``[genrm]``, ``[critic]``, ...): ``section`` picks the one that
    applies over the top level; the others are ignored."""
    path = recipe_path(name)
    data = tomllib.loads(path.read_text())
    sections = config.SECTIONS
    for key in sections:
        table = data.pop(key, None)
        if key == section and isinstance(table, dict):
            data.update(table)
    data.update(overrides)
    data.setdefault("recipe", path.stem)
    try:
        return build(config, data)
    except UserError as e:
        raise UserError(f"recipe {path.stem}: {e}") from None
