"""Augmentations through a corruption network (DeepAugment, AdA): `--augment NAME:net=NET.pt[,...]`."""
from __future__ import annotations

import torch
from torch import nn

from probe.augment.augmix import parse_options
from probe.augment.base import Augmentation
from probe.errors import ParameterError
from probe.models.corruption_nets import check_corruption_net, corruption_network


class NetworkAugmentation(Augmentation):
    """An augmentation through the corruption network `net`, which follows the images' device and is
    checked (image in, image of the same shape out) on the first batch.  Subclasses list their own
    `--augment` options and defaults in `OPTIONS`."""

    OPTIONS: dict = {}

    def __init__(self, net: nn.Module) -> None:
        self.net = net
        self.checked = False

    def network(self, x: torch.Tensor) -> nn.Module:
        """The corruption network, on the device of the images `x`."""
        self.net = corruption_network(self.net, x.device)
        if not self.checked:
            check_corruption_net(self.net, x)
            self.checked = True
        return self.net

    @classmethod
    def from_spec(cls, args: str, info: dict) -> NetworkAugmentation:
        """Build from the `--augment NAME:net=NET.pt[,key=value...]` option text (paths may hold ':')."""
        options = parse_options(args, {"net": None, **cls.OPTIONS}, cls.name)
        if options["net"] is None:
            raise ParameterError(f"--augment {cls.name} needs net=NET.pt (a corruption network, see "
                                 f"python -m probe.corruption_net)")
        return cls(corruption_network(options.pop("net")), **options)
