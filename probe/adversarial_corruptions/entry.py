"""The adversarial_corruptions probe's entry in the registry (`probe.registry`): where its pieces live."""
from probe.registry import ProbeEntry

ENTRY = ProbeEntry(
    name='adversarial_corruptions',
    module='probe.adversarial_corruptions',
    command='probe.adversarial_corruptions.command',
    plot='probe.adversarial_corruptions.plot:overview',
    report='probe.adversarial_corruptions.report',
    description="worst-case corruptions through a corruption network's weights (AdA): robust accuracy per radius ν",
    example='python -m probe.adversarial_corruptions lenet.pt --corruption-net net.pt --n 256 --out ada.nc',
)
