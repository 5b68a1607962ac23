"""The margins probe's entry in the registry (`probe.registry`): where its pieces live."""
from probe.registry import ProbeEntry

ENTRY = ProbeEntry(
    name="margins",
    module="probe.margins",
    command="probe.margins.command",
    plot="probe.margins.plot:bands",
    report="probe.margins.report",
    description="distance to the decision boundary inside DCT frequency bands or random subspaces",
    example="python -m probe.margins lenet.pt --data fashion-mnist --n 500 --out margins.nc --plot margins.png",
)
