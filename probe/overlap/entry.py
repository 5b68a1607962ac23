"""The overlap probe's entry in the registry (`probe.registry`): where its pieces live."""
from probe.registry import ProbeEntry

ENTRY = ProbeEntry(
    name="overlap",
    module="probe.overlap",
    command="probe.overlap.command",
    plot="probe.overlap.plot:overlap",
    description="how much of one Lp ball lies inside another (Monte Carlo)",
    example="python -m probe.overlap --dim 3072 --reference l2:4 --out overlap.nc --plot overlap.png",
    uses_model=False,
    chunked=False,
)
