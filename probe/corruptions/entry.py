"""The corruptions probe's entry in the registry (`probe.registry`): where its pieces live."""
from probe.registry import ProbeEntry

ENTRY = ProbeEntry(
    name="corruptions",
    module="probe.corruptions",
    command="probe.corruptions.command",
    plot="probe.corruptions.plot:overview",
    report="probe.corruptions.report",
    description="accuracy under common corruptions, mCE, test-time BN adaptation",
    example="python -m probe.corruptions lenet.pt --data fashion-mnist --n 1000 --out corruptions.nc",
)
