"""The lp probe's entry in the registry (`probe.registry`): where its pieces live."""
from probe.registry import ProbeEntry

ENTRY = ProbeEntry(
    name="lp",
    module="probe.lp",
    command="probe.lp.command",
    plot="probe.lp.plot:accuracy",
    report="probe.lp.report",
    description="accuracy under random Lp-norm noise, mCE_Lp and iCE",
    example="python -m probe.lp lenet.pt --data fashion-mnist --n 500 --norms L0 L2 Linf --out lp.nc",
)
