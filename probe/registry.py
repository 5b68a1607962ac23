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
    example: str       # one command line shown by `--help`
    uses_model: bool = True
    chunked: bool = True   # runs per sample through the runner's chunks (resumable)

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


PROBES: dict[str, ProbeEntry] = {entry.name: entry for entry in (
    ProbeEntry("evaluate", "probe.evaluate", "probe.commands.evaluate", "probe.plot.evaluation:confusion",
               "accuracy, per class, with confidences",
               example="python -m probe.evaluate lenet.pt --data fashion-mnist --out evaluate.nc "
                       "--plot confusion.png"),
    ProbeEntry("margins", "probe.margins", "probe.commands.margins", "probe.plot.margins:bands",
               "distance to the decision boundary inside DCT frequency bands or random subspaces",
               example="python -m probe.margins lenet.pt --data fashion-mnist --n 500 --out margins.nc "
                       "--plot margins.png"),
    ProbeEntry("sparsefool", "probe.sparsefool", "probe.commands.sparsefool", "probe.plot.sparsefool:overview",
               "how few pixels change the decision (SparseFool)",
               example="python -m probe.sparsefool lenet.pt --data fashion-mnist --n 200 --delta 25 --out sf.nc"),
    ProbeEntry("lp", "probe.lp", "probe.commands.lp", "probe.plot.lp:accuracy",
               "accuracy under random Lp-norm noise, mCE_Lp and iCE",
               example="python -m probe.lp lenet.pt --data fashion-mnist --n 500 --norms L0 L2 Linf --out lp.nc"),
    ProbeEntry("corruptions", "probe.corruptions", "probe.commands.corruptions", "probe.plot.corruptions:overview",
               "accuracy under common corruptions, mCE, test-time BN adaptation",
               example="python -m probe.corruptions lenet.pt --data fashion-mnist --n 1000 --out corruptions.nc"),
    ProbeEntry("flatness", "probe.flatness", "probe.commands.flatness", "probe.plot.flatness:summary",
               "loss flatness around the weights and the Hessian spectrum",
               example="python -m probe.flatness lenet.pt --n 500 --filter-norm --hessian top:3,trace --out flat.nc",
               chunked=False),
    ProbeEntry("overlap", "probe.overlap", "probe.commands.overlap", "probe.plot.lp:overlap",
               "how much of one Lp ball lies inside another (Monte Carlo)",
               example="python -m probe.overlap --dim 3072 --reference l2:4 --out overlap.nc --plot overlap.png",
               uses_model=False, chunked=False),
    ProbeEntry("adversarial_corruptions", "probe.adversarial_corruptions", "probe.commands.adversarial_corruptions",
               "probe.plot.adversarial_corruptions:overview",
               "worst-case corruptions through a corruption network's weights (AdA): robust accuracy per radius ν",
               example="python -m probe.adversarial_corruptions lenet.pt --corruption-net net.pt --n 256 "
                       "--out ada.nc"),
    ProbeEntry("masking", "probe.masking", "probe.commands.masking", "probe.plot.masking:overview",
               "gradient-masking symptoms: one-step vs iterative PGD, loss against steps and radius, noise, "
               "transfer, zero gradients, unbounded DeepFool",
               example="python -m probe.masking lenet.pt --data fashion-mnist --n 64 --out masking.nc "
                       "--plot masking.png"),
)}


def entry(name: str) -> ProbeEntry:
    """The registry entry of probe `name`."""
    if name not in PROBES:
        raise ParameterError(f"unknown probe '{name}' (known: {', '.join(PROBES)})")
    return PROBES[name]
