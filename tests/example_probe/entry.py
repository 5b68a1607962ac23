"""The example probe's entry in the registry (`probe.registry.register(ENTRY)` adds it)."""
from probe.registry import ProbeEntry

ENTRY = ProbeEntry(
    name="gradient_norm",
    module="example_probe",
    command="example_probe.command",
    plot="example_probe.plot:distribution",
    report="example_probe.report",
    description="norm of the input gradient of the loss, per sample",
    example="python -m example_probe lenet.pt --data fashion-mnist --n 256 --out gradient_norm.nc",
)
