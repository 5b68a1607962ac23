"""The one list of probes.  Commands, `python -m probe.plot`, the demo and the report read it,
so adding a probe is one entry here (plus its module, command and plot)."""
from __future__ import annotations

import dataclasses
import importlib
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
    uses_model: bool = True
    chunked: bool = True   # runs per sample through the runner's chunks (resumable)

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


PROBES: dict[str, ProbeEntry] = {entry.name: entry for entry in (
    ProbeEntry("evaluate", "probe.evaluate", "probe.commands.evaluate", "probe.plot.evaluation:confusion",
               "accuracy, per class, with confidences"),
    ProbeEntry("margins", "probe.margins", "probe.commands.margins", "probe.plot.margins:bands",
               "distance to the decision boundary inside DCT frequency bands or random subspaces"),
    ProbeEntry("sparsefool", "probe.sparsefool", "probe.commands.sparsefool", "probe.plot.sparsefool:overview",
               "how few pixels change the decision (SparseFool)"),
    ProbeEntry("lp", "probe.lp", "probe.commands.lp", "probe.plot.lp:accuracy",
               "accuracy under random Lp-norm noise, mCE_Lp and iCE"),
    ProbeEntry("corruptions", "probe.corruptions", "probe.commands.corruptions", "probe.plot.corruptions:overview",
               "accuracy under common corruptions, mCE, test-time BN adaptation"),
    ProbeEntry("flatness", "probe.flatness", "probe.commands.flatness", "probe.plot.flatness:summary",
               "loss flatness around the weights and the Hessian spectrum", chunked=False),
    ProbeEntry("overlap", "probe.overlap", "probe.commands.overlap", "probe.plot.lp:overlap",
               "how much of one Lp ball lies inside another (Monte Carlo)", uses_model=False, chunked=False),
    ProbeEntry("adversarial_corruptions", "probe.adversarial_corruptions", "probe.commands.adversarial_corruptions",
               "probe.plot.adversarial_corruptions:overview",
               "worst-case corruptions through a corruption network's weights (AdA): robust accuracy per radius ν"),
    ProbeEntry("masking", "probe.masking", "probe.commands.masking", "probe.plot.masking:overview",
               "gradient-masking symptoms: one-step vs iterative PGD, loss against steps and radius, noise, "
               "transfer, zero gradients, unbounded DeepFool"),
)}


def entry(name: str) -> ProbeEntry:
    """The registry entry of probe `name`."""
    if name not in PROBES:
        raise ParameterError(f"unknown probe '{name}' (known: {', '.join(PROBES)})")
    return PROBES[name]
