"""Named training recipes: TOML files in ``ponder/recipes/`` (or any path to one).

A recipe is a complete ``SFTConfig``: with the same recipe and seed, a run makes the same model.
"""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path

from ponder.errors import UserError
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


def load_recipe(name: str, **overrides) -> SFTConfig:
    path = recipe_path(name)
    data = tomllib.loads(path.read_text())
    data.update(overrides)
    known = {f.name for f in fields(SFTConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UserError(f"recipe {path.stem}: unknown field(s) {', '.join(unknown)}")
    data.setdefault("recipe", path.stem)
    try:
        return SFTConfig(**data)
    except TypeError as e:
        raise UserError(f"recipe {path.stem}: {e}") from None
