"""The flatness probe's entry in the registry (`probe.registry`): where its pieces live."""
from probe.registry import ProbeEntry

ENTRY = ProbeEntry(
    name="flatness",
    module="probe.flatness",
    command="probe.flatness.command",
    plot="probe.flatness.plot:summary",
    report="probe.flatness.report",
    description="loss flatness around the weights and the Hessian spectrum",
    example="python -m probe.flatness lenet.pt --n 500 --filter-norm --hessian top:3,trace --out flat.nc",
    chunked=False,
)
