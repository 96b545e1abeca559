"""Figures of the source's shape, against the architecture's targets: the largest files and
functions, config dataclasses by field count, imports among the files of ``train/``, imports that
point up the layers, and ``hasattr`` calls.

    python benchmarks/layout.py            # from the repository root

Read by parsing (``ast``), nothing is imported or run. The layers, lowest first (a module may
import from its own layer and those below): types/errors/utils/jsonhttp, then tasks and model,
engine, backends, rewards, search, and on top train, serve, report and the command-line modules.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "ponder"
LAYERS = {"types": 0, "errors": 0, "utils": 0, "jsonhttp": 0, "tasks": 1, "model": 1, "engine": 2, "backends": 3,
          "rewards": 4, "search": 5, "evaluate": 5, "sweep": 6, "train": 6, "serve": 6, "report": 6, "demo": 6,
          "profile": 6, "cli": 7, "__init__": 7}
TARGETS = {"file lines": 500, "function lines": 80, "config fields": 30}


@dataclass
class Module:
    path: Path
    name: str  # dotted, under ponder
    tree: ast.Module
    lines: int

    @property
    def top(self) -> str:
        parts = self.name.split(".")
        return parts[1] if len(parts) > 1 else "__init__"


def modules() -> list[Module]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        name = ".".join(p for p in rel.parts if p != "__init__") or "ponder"
        text = path.read_text()
        out.append(Module(path, name, ast.parse(text), text.count("\n")))
    return out


def imports(m: Module) -> list[str]:
    """Every ponder module ``m`` imports, at the top or inside a function."""
    found = []
    for node in ast.walk(m.tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ponder"):
            found += [f"{node.module}.{a.name}" for a in node.names] + [node.module]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("ponder")]
    return found


def layer(name: str) -> int:
    parts = name.split(".")
    return LAYERS.get(parts[1] if len(parts) > 1 else "__init__", 7)


def functions(m: Module):
    for node in ast.walk(m.tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node.end_lineno - node.lineno + 1, node.lineno


def configs(m: Module):
    """Dataclasses named *Config with their own annotated fields (inherited ones added below)."""
    for node in m.tree.body:
        if isinstance(node, ast.ClassDef) and node.name.endswith(("Config", "Workers")):
            own = [s.target.id for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
                   and "ClassVar" not in ast.unparse(s.annotation)]
            yield node.name, own, [ast.unparse(b) for b in node.bases]


def main() -> int:
    mods = modules()
    print("largest files (lines):")
    for m in sorted(mods, key=lambda m: -m.lines)[:5]:
        print(f"  {m.lines:5d}  {m.path.relative_to(SRC.parent.parent)}")
    funcs = sorted(((n, f, m) for m in mods for f, n, _ in functions(m)), key=lambda t: -t[0])
    print("longest functions (lines):")
    for n, f, m in funcs[:5]:
        print(f"  {n:5d}  {m.name}.{f}")
    fields: dict[str, tuple[list[str], list[str]]] = {}
    for m in mods:
        for name, own, bases in configs(m):
            fields[name] = (own, bases)

    def field_names(name: str) -> set[str]:
        own, bases = fields.get(name, ([], []))
        return set(own).union(*(field_names(b) for b in bases if b in fields))

    def count(name: str) -> int:
        return len(field_names(name))

    print("configs (fields, inherited included):")
    for name in sorted(fields, key=count, reverse=True):
        print(f"  {count(name):3d}  {name}")
    train = [m for m in mods if m.name.startswith("ponder.train.")]
    names = {m.name for m in train}
    arrows = sorted({(m.name, i) for m in train for i in imports(m) if i in names and i != m.name})
    print(f"imports among the files of train/: {len(arrows)}")
    for a, b in arrows:
        print(f"  {a.removeprefix('ponder.train.')} -> {b.removeprefix('ponder.train.')}")
    upward = sorted({(m.name, i) for m in mods for i in imports(m) if layer(i) > layer(m.name)})
    print(f"imports from a lower layer to a higher one: {len(upward)}")
    for a, b in upward:
        print(f"  {a} -> {b}")
    probes = [(m.name, node.lineno, ast.unparse(node)) for m in mods for node in ast.walk(m.tree)
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "hasattr"]
    print(f"hasattr calls: {len(probes)}")
    for name, line, text in probes:
        print(f"  {name}:{line}  {text}")
    readme = (SRC.parent.parent / "README.md").read_text().count("\n")
    print(f"README.md: {readme} lines")
    over = [m for m in mods if m.lines > TARGETS["file lines"]] + [f for n, f, _ in funcs if n > TARGETS["function lines"]]
    print(f"targets: files over {TARGETS['file lines']} lines or functions over {TARGETS['function lines']}: {len(over)}; "
          f"configs over {TARGETS['config fields']} fields: {sum(count(n) > TARGETS['config fields'] for n in fields)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
