"""The sparsefool probe's entry in the registry (`probe.registry`): where its pieces live."""
from probe.registry import ProbeEntry

ENTRY = ProbeEntry(
    name="sparsefool",
    module="probe.sparsefool",
    command="probe.sparsefool.command",
    plot="probe.sparsefool.plot:overview",
    report="probe.sparsefool.report",
    description="how few pixels change the decision (SparseFool)",
    example="python -m probe.sparsefool lenet.pt --data fashion-mnist --n 200 --delta 25 --out sf.nc",
)
