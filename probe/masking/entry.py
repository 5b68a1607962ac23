"""The masking probe's entry in the registry (`probe.registry`): where its pieces live."""
from probe.registry import ProbeEntry

ENTRY = ProbeEntry(
    name="masking",
    module="probe.masking",
    command="probe.masking.command",
    plot="probe.masking.plot:overview",
    report="probe.masking.report",
    description="gradient-masking symptoms: one-step vs iterative PGD, loss against steps and radius, noise, "
                "transfer, zero gradients, unbounded DeepFool",
    example="python -m probe.masking lenet.pt --data fashion-mnist --n 64 --out masking.nc --plot masking.png",
)
