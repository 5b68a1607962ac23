"""The import rules of the package's layers, checked on the source (AST, nothing imported):

- a probe package (`probe/<name>/`, every probe of `probe.registry`) imports no other probe
  package: what two probes share lives below them (`probe.logits`, `probe.stats`, `probe.runner`,
  `probe.tables`, ...);
- the modules below the probes (everything in `probe/` outside the probe packages and the
  command layer) import no probe package either: the report and `python -m probe.plot` reach
  the probes through the registry;
- nothing imports the command layer (`probe.commands`, a probe's `command.py`) but the command
  layer itself, the `__main__.py` shims, `analyses/demo.py`, and analyses scripts that drive a
  whole command through its entry point (`main`, `probe_main`), never its helpers.
"""
from __future__ import annotations

import ast
from pathlib import Path

from probe import registry

ROOT = Path(__file__).resolve().parents[1]
PROBES = set(registry.PROBES)
ENTRY_POINTS = {"main", "probe_main"}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path) -> list[tuple[list[str], set[str]]]:
    """Per import statement of the file: the modules it may import (a `from package import name`
    may import the submodule `package.name`), relative ones resolved, and the names it takes."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [([alias.name], set()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            names = {alias.name for alias in node.names}
            found.append(([base, *(f"{base}.{name}" for name in sorted(names))], names))
    return found


def probe_of(module: str) -> str | None:
    """The probe package a module belongs to (None: none)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "probe" and parts[1] in PROBES else None


def is_command(module: str) -> bool:
    """Whether a module is part of the command layer."""
    parts = module.split(".")
    return (parts[:2] == ["probe", "commands"]
            or (len(parts) == 3 and probe_of(module) is not None and parts[2] == "command"))


def violations(root: Path = ROOT) -> list[str]:
    """Every import that breaks a rule, as 'file: what'."""
    found = []
    files = [*sorted((root / "probe").rglob("*.py")), *sorted((root / "analyses").glob("*.py")),
             *sorted((root / "figures").glob("*.py"))]
    for path in files:
        module, where = _module_name(path, root), path.relative_to(root)
        owner = probe_of(module)
        in_package = module.split(".")[0] == "probe"
        for targets, names in imports(path, root):
            other = next((t for t in targets if probe_of(t) not in (None, owner)), None)
            if in_package and other is not None and not is_command(module):
                kind = f"probe '{owner}'" if owner else "a module below the probes"
                found.append(f"{where}: {kind} imports probe package {other}")
            command = next((t for t in targets if is_command(t)), None)
            if command is not None and not is_command(module):
                allowed = (path.name == "__main__.py" or where == Path("analyses/demo.py")
                           or (where.parts[0] == "analyses" and names and names <= ENTRY_POINTS))
                if not allowed:
                    found.append(f"{where}: imports the command layer ({command})")
    return found


def test_layers_import_one_way():
    assert violations() == []


def test_the_rules_catch_each_kind_of_import(tmp_path):
    """Each rule fires on a file that breaks it, and the allowed imports pass (a tree of files
    laid out like the repository)."""
    files = {
        "probe/margins/__init__.py": "from probe.lp import summary\n",
        "probe/margins/plot.py": "from probe import evaluate\nfrom probe.plot import style\n",
        "probe/margins/report.py": "from . import summary\nfrom ..report.checks import Spec\n",
        "probe/stats.py": "import probe.margins\n",
        "probe/runner.py": "from probe.commands.common import format_table\n",
        "probe/report/checks.py": "from ..margins import command\n",
        "analyses/script.py": "from probe.commands.common import format_table\nfrom probe.commands.train import main\n",
        "analyses/demo.py": "from probe.commands.common import format_table\n",
        "figures/figure.py": "from probe.margins.command import report\n",
        "probe/margins/__main__.py": "from probe.commands import probe_main\n",
        "probe/margins/command.py": "from probe.commands.common import positive_int\nfrom probe.lp import summary\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert sorted(violations(tmp_path)) == sorted([
        "probe/margins/__init__.py: probe 'margins' imports probe package probe.lp",
        "probe/margins/plot.py: probe 'margins' imports probe package probe.evaluate",
        "probe/stats.py: a module below the probes imports probe package probe.margins",
        "probe/runner.py: imports the command layer (probe.commands.common)",
        "probe/report/checks.py: a module below the probes imports probe package probe.margins",
        "probe/report/checks.py: imports the command layer (probe.margins.command)",
        "analyses/script.py: imports the command layer (probe.commands.common)",
        "figures/figure.py: imports the command layer (probe.margins.command)",
    ])
