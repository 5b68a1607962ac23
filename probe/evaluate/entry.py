"""The evaluate probe's entry in the registry (`probe.registry`): where its pieces live."""
from probe.registry import ProbeEntry

ENTRY = ProbeEntry(
    name="evaluate",
    module="probe.evaluate",
    command="probe.evaluate.command",
    plot="probe.evaluate.plot:confusion",
    report="probe.evaluate.report",
    description="accuracy, per class, with confidences",
    example="python -m probe.evaluate lenet.pt --data fashion-mnist --out evaluate.nc --plot confusion.png",
)
