"""The model registry: classifiers for 28×28 and 32×32 images (any channel count) and ImageNet-style ResNets.

Every builder takes `in_channels`, `num_classes` and `image_size` (H, W) plus its own
hyper-parameters, and returns an un-normalised `nn.Module`; `probe.models.build` wraps it
in `Normalized`.  Image-to-image builders (the corruption networks of
`probe.models.corruption_nets`, registered with `image_to_image=True` and listed in
`IMAGE_TO_IMAGE`) take no `num_classes` and map pixels to pixels, so they are not wrapped.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn

ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {}
IMAGE_TO_IMAGE: set[str] = set()   # architectures whose output is an image of the input's size


Builder = TypeVar("Builder", bound=Callable[..., nn.Module])


def register(name: str, image_to_image: bool = False) -> Callable[[Builder], Builder]:
    """A decorator recording a builder in `ARCHITECTURES` under `name` (and in `IMAGE_TO_IMAGE`)."""
    def decorator(builder: Builder) -> Builder:
        ARCHITECTURES[name] = builder
        if image_to_image:
            IMAGE_TO_IMAGE.add(name)
        return builder
    return decorator


@register("linear")
def linear(in_channels: int = 1, num_classes: int = 10, image_size: Sequence[int] = (28, 28)) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size[0] * image_size[1], num_classes))


@register("mlp")
def mlp(in_channels: int = 1, num_classes: int = 10, image_size: Sequence[int] = (28, 28),
        width: int = 500, depth: int = 2) -> nn.Module:
    """`depth` hidden ReLU layers of `width` units (the synthetic experiments use 10 × 500)."""
    layers: list[nn.Module] = [nn.Flatten()]
    features = in_channels * image_size[0] * image_size[1]
    for _ in range(depth):
        layers += [nn.Linear(features, width), nn.ReLU()]
        features = width
    layers.append(nn.Linear(features, num_classes))
    return nn.Sequential(*layers)


@register("lenet")
def lenet(in_channels: int = 1, num_classes: int = 10, image_size: Sequence[int] = (28, 28),
          batchnorm: bool = True) -> nn.Module:
    """LeNet-5 layout (conv 6@5×5, pool, conv 16@5×5, pool, 120, 84) with ReLU and max-pool."""
    def norm(channels: int) -> nn.Module:
        return nn.BatchNorm2d(channels) if batchnorm else nn.Identity()

    features = nn.Sequential(
        nn.Conv2d(in_channels, 6, 5, padding=2), norm(6), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), norm(16), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
    with torch.no_grad():
        flat = features(torch.zeros(1, in_channels, *image_size)).shape[1]
    return nn.Sequential(features, nn.Linear(flat, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                         nn.Linear(84, num_classes))


class BasicBlock(nn.Module):
    """ResNet basic block; `preact` puts BN-ReLU before each convolution (He et al. 2016b)."""

    def __init__(self, cin: int, cout: int, stride: int, preact: bool, dropout: float = 0.0) -> None:
        super().__init__()
        self.preact = preact
        self.bn1 = nn.BatchNorm2d(cin if preact else cout)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.shortcut = None
        if stride != 1 or cin != cout:
            layers = [nn.Conv2d(cin, cout, 1, stride, bias=False)]
            self.shortcut = nn.Sequential(*layers) if preact else nn.Sequential(*layers, nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.preact:
            out = F.relu(self.bn1(x))
            skip = self.shortcut(out) if self.shortcut is not None else x
            out = self.conv1(out)
            out = self.conv2(self.dropout(F.relu(self.bn2(out))))
            return out + skip
        skip = self.shortcut(x) if self.shortcut is not None else x
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(self.dropout(out)))
        return F.relu(out + skip)


class Bottleneck(nn.Module):
    """ResNet bottleneck block (1×1 reduce, 3×3 with the stride, 1×1 expand ×4), post-activation."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.shortcut(x) if self.shortcut is not None else x
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        return F.relu(self.bn3(self.conv3(out)) + skip)


class ResNet(nn.Module):
    """ResNet: a stem, stages of blocks (the first of each later stage strides by 2), global pool.

    `widths[0]` is the stem width, `widths[1:]` the stage widths.  The CIFAR stem is one 3×3
    convolution without max-pool; the ImageNet stem a 7×7 stride-2 convolution, BN, ReLU and a
    3×3 stride-2 max-pool.  Pre-activation networks (basic blocks, CIFAR stem) end with BN-ReLU
    before pooling; post-activation ones have BN-ReLU in the stem.
    """

    def __init__(self, widths: Sequence[int], blocks: Sequence[int], in_channels: int, num_classes: int,
                 preact: bool, dropout: float = 0.0, bottleneck: bool = False, imagenet_stem: bool = False) -> None:
        super().__init__()
        if imagenet_stem:
            self.stem: nn.Module = nn.Sequential(nn.Conv2d(in_channels, widths[0], 7, 2, 3, bias=False),
                                                 nn.BatchNorm2d(widths[0]), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        else:
            conv = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
            self.stem = conv if preact else nn.Sequential(conv, nn.BatchNorm2d(widths[0]), nn.ReLU())
        cin = widths[0]
        stages: list[nn.Module] = []
        for stage, (width, count) in enumerate(zip(widths[1:], blocks)):
            for block in range(count):
                stride = 2 if stage > 0 and block == 0 else 1
                if bottleneck:
                    stages.append(Bottleneck(cin, width, stride))
                    cin = width * Bottleneck.expansion
                else:
                    stages.append(BasicBlock(cin, width, stride, preact, dropout))
                    cin = width
        self.blocks = nn.Sequential(*stages)
        self.final = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU()) if preact else nn.Identity()
        self.head = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.final(self.blocks(self.stem(x)))
        return self.head(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


@register("resnet18")
def resnet18(in_channels: int = 3, num_classes: int = 10, image_size: Sequence[int] = (32, 32),
             base_width: int = 64) -> nn.Module:
    w = base_width
    return ResNet((w, w, 2 * w, 4 * w, 8 * w), (2, 2, 2, 2), in_channels, num_classes, preact=False)


@register("preact_resnet18")
def preact_resnet18(in_channels: int = 3, num_classes: int = 10, image_size: Sequence[int] = (32, 32),
                    base_width: int = 64) -> nn.Module:
    w = base_width
    return ResNet((w, w, 2 * w, 4 * w, 8 * w), (2, 2, 2, 2), in_channels, num_classes, preact=True)


@register("wide_resnet")
def wide_resnet(in_channels: int = 3, num_classes: int = 10, image_size: Sequence[int] = (32, 32),
                depth: int = 28, width: int = 10, dropout: float = 0.0) -> nn.Module:
    """WRN-depth-width (Zagoruyko & Komodakis): pre-activation blocks, (depth − 4) / 6 per stage."""
    if (depth - 4) % 6:
        raise ValueError(f"wide_resnet depth must be 6n + 4, got {depth}")
    n = (depth - 4) // 6
    return ResNet((16, 16 * width, 32 * width, 64 * width), (n, n, n), in_channels, num_classes,
                  preact=True, dropout=dropout)


@register("imagenet-resnet18")
def imagenet_resnet18(in_channels: int = 3, num_classes: int = 1000,
                      image_size: Sequence[int] = (224, 224)) -> nn.Module:
    """ResNet-18 with the ImageNet stem (7×7 stride-2 convolution and max-pool): 11.7 M parameters at 1000 classes."""
    return ResNet((64, 64, 128, 256, 512), (2, 2, 2, 2), in_channels, num_classes, preact=False, imagenet_stem=True)


@register("imagenet-resnet50")
def imagenet_resnet50(in_channels: int = 3, num_classes: int = 1000,
                      image_size: Sequence[int] = (224, 224)) -> nn.Module:
    """ResNet-50 (bottleneck blocks, ImageNet stem): 25.6 M parameters at 1000 classes."""
    return ResNet((64, 64, 128, 256, 512), (3, 4, 6, 3), in_channels, num_classes, preact=False, bottleneck=True,
                  imagenet_stem=True)
