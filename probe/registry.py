"""The one list of probes.  Commands, `python -m probe.plot`, the demo and the report read it.

A probe is one package, `probe/<name>/`, holding everything specific to it: the library
(`__init__.py`: `run` and `summary`), its command-line options and summary text (`command.py`),
its figures (`plot.py`), its report checks, reading, figure and budgets (`report.py`) and its
entry here (`entry.py`: `ENTRY = ProbeEntry(...)`).  This module lists the packages, one line
each, and imports an entry only when it is asked for, so listing the probes' names imports no
probe.  `register(entry)` adds a probe at run time (one outside this package, e.g. the example
probe of the tests, `docs/ADDING_A_PROBE.md`).
"""
from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Iterable, Iterator, Mapping
from types import ModuleType

from probe.errors import ParameterError


@dataclasses.dataclass(frozen=True)
class ProbeEntry:
    """Where a probe's pieces live."""

    name: str
    module: str        # the library module: run(model, data, ...) -> xr.Dataset and summary(ds) -> dict
    command: str       # the command module: add_options(parser) and report(ds) -> str
    plot: str          # the default plot, 'module:function' taking a result and returning axes
    description: str
    example: str       # one command line shown by `--help`
    uses_model: bool = True
    chunked: bool = True   # runs per sample through the runner's chunks (resumable)
    report: str | None = None   # the report's pieces (checks, reading, figure, budgets); None: defaults

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


class Registry(Mapping[str, ProbeEntry]):
    """Probe name → `ProbeEntry`: the packages given (each named by its last component, entry in
    `PACKAGE.entry.ENTRY`, imported on first use), then those registered at run time."""

    def __init__(self, packages: Iterable[str]) -> None:
        self._packages = {package.rpartition(".")[2]: package for package in packages}
        self._entries: dict[str, ProbeEntry] = {}

    def __getitem__(self, name: str) -> ProbeEntry:
        if name not in self._entries:
            if name not in self._packages:
                raise KeyError(name)
            declared = importlib.import_module(f"{self._packages[name]}.entry").ENTRY
            if declared.name != name:
                raise RuntimeError(f"{self._packages[name]}.entry declares probe '{declared.name}', not '{name}'")
            self._entries[name] = declared
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._packages or name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter([*self._packages, *(name for name in self._entries if name not in self._packages)])

    def __len__(self) -> int:
        return len(set(self._packages) | set(self._entries))

    def register(self, declared: ProbeEntry) -> None:
        if declared.name in self:
            raise ParameterError(f"a probe named '{declared.name}' is already registered")
        self._entries[declared.name] = declared

    def unregister(self, name: str) -> None:
        if name in self._packages or name not in self._entries:
            raise ParameterError(f"'{name}' is not a probe registered at run time")
        del self._entries[name]


PROBES = Registry([
    "probe.evaluate",
    "probe.margins",
    "probe.sparsefool",
    "probe.lp",
    "probe.corruptions",
    "probe.flatness",
    "probe.overlap",
    "probe.adversarial_corruptions",
    "probe.masking",
])


def register(declared: ProbeEntry) -> ProbeEntry:
    """Add a probe at run time (its commands, plots and report stage follow); returns the entry."""
    PROBES.register(declared)
    return declared


def unregister(name: str) -> None:
    """Remove a probe added by `register`."""
    PROBES.unregister(name)


def entry(name: str) -> ProbeEntry:
    """The registry entry of probe `name`."""
    if name not in PROBES:
        raise ParameterError(f"unknown probe '{name}' (known: {', '.join(PROBES)})")
    return PROBES[name]
