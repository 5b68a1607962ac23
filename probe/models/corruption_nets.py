"""Corruption networks: image-to-image networks whose output has the input's size.

Pretrained to reproduce their input (`probe.corruption_net`), they become corruption models
when their weights are distorted (DeepAugment) or adversarially perturbed (AdA).

- `edsr`: EDSR-style super-resolution, used as "down-sample ×`scale` then super-resolve":
  the image is area-averaged by `scale`, then a head convolution, residual blocks without
  BatchNorm (conv–ReLU–conv, branch scaled by `res_scale` = 0.1), a global skip around the
  blocks, a sub-pixel (pixel-shuffle) up-sampler and a tail convolution.  Image sides must be
  multiples of `scale`.  The default is the same-resolution variant (`scale=1`): on 28×28
  Fashion-MNIST the ×2 variant cannot reach the SSIM 0.95 a corruption network should have
  (bicubic up-sampling of the ×2 average gives 0.73; the default 32-feature, 4-block EDSR at
  `scale=2` reached 0.76 after 5 epochs of `python -m probe.corruption_net` on the embedded
  sample), while `scale=1` passes 0.95 within one epoch.
- `cae`: compressive autoencoder: strided-convolution encoder (`stages` halvings), a rounding
  quantiser (to multiples of 1/`levels`) with a straight-through gradient, and a sub-pixel
  convolutional decoder.  Image sides must be multiples of 2**`stages`.

Outputs are not clipped; the users of a corruption network clip them to [0, 1].
"""
from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from probe.errors import ParameterError, ShapeError
from probe.models.checkpoint import load
from probe.models.zoo import register


def check_divisible(image_size: Sequence[int], factor: int, arch: str) -> None:
    """A `ShapeError` unless both image sides are multiples of `factor`."""
    if any(int(side) % factor for side in image_size):
        raise ShapeError(f"{arch} needs image sides that are multiples of {factor}, "
                         f"got {'×'.join(str(int(s)) for s in image_size)}")


def conv(cin: int, cout: int) -> nn.Conv2d:
    """3×3 convolution keeping the size."""
    return nn.Conv2d(cin, cout, 3, padding=1)


def upsampler(features: int, factor: int) -> nn.Sequential:
    """Sub-pixel up-sampling by `factor`: a convolution to factor² · features channels, then pixel shuffle."""
    return nn.Sequential(conv(features, features * factor * factor), nn.PixelShuffle(factor))


class ResidualBlock(nn.Module):
    """EDSR block: `x + res_scale · conv(relu(conv(x)))`, no BatchNorm."""

    def __init__(self, features: int, res_scale: float) -> None:
        super().__init__()
        self.conv1, self.conv2 = conv(features, features), conv(features, features)
        self.res_scale = float(res_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.conv2(F.relu(self.conv1(x)))


class EDSR(nn.Module):
    """Down-sample ×`scale` (area), then EDSR super-resolution back to the input size."""

    def __init__(self, in_channels: int, features: int, blocks: int, scale: int, res_scale: float) -> None:
        super().__init__()
        self.scale = int(scale)
        self.head = conv(in_channels, features)
        residual = [ResidualBlock(features, res_scale) for _ in range(blocks)]
        self.body = nn.Sequential(*residual, conv(features, features))
        self.upsample = upsampler(features, self.scale) if self.scale > 1 else nn.Identity()
        self.tail = conv(features, in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_divisible(x.shape[-2:], self.scale, "edsr")
        low = F.avg_pool2d(x, self.scale) if self.scale > 1 else x
        features = self.head(low)
        features = features + self.body(features)        # the global skip
        return self.tail(self.upsample(features))


def quantise(z: torch.Tensor, levels: int) -> torch.Tensor:
    """Round to multiples of 1 / `levels`; the gradient passes straight through (identity)."""
    return z + (torch.round(z * levels) / levels - z).detach()


class CAE(nn.Module):
    """Compressive autoencoder: strided encoder, rounding quantiser, sub-pixel decoder."""

    def __init__(self, in_channels: int, features: int, code_channels: int, stages: int, levels: int) -> None:
        super().__init__()
        self.factor, self.levels = 2 ** int(stages), int(levels)
        encoder: list[nn.Module] = [conv(in_channels, features), nn.ReLU()]
        decoder: list[nn.Module] = [conv(code_channels, features), nn.ReLU()]
        for _ in range(stages):
            encoder += [nn.Conv2d(features, features, 4, stride=2, padding=1), nn.ReLU()]
            decoder += [upsampler(features, 2), nn.ReLU()]
        self.encoder = nn.Sequential(*encoder, conv(features, code_channels))
        self.decoder = nn.Sequential(*decoder, conv(features, in_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_divisible(x.shape[-2:], self.factor, "cae")
        return self.decoder(quantise(self.encoder(x), self.levels))


def _positive(**values: float) -> None:
    bad = [f"{k}={v}" for k, v in values.items() if v <= 0]
    if bad:
        raise ValueError(f"{', '.join(bad)}: must be positive")


@register("edsr", image_to_image=True)
def edsr(in_channels: int = 1, image_size: Sequence[int] = (28, 28), features: int = 32, blocks: int = 4,
         scale: int = 1, res_scale: float = 0.1) -> nn.Module:
    """EDSR-style corruption network (`scale` 1: same resolution; 2: ×2 down then up, even image sides)."""
    if scale not in (1, 2):
        raise ValueError(f"edsr scale must be 1 or 2, got {scale}")
    _positive(features=features, blocks=blocks, res_scale=res_scale)
    check_divisible(image_size, scale, "edsr")
    return EDSR(in_channels, features, blocks, scale, res_scale)


@register("cae", image_to_image=True)
def cae(in_channels: int = 1, image_size: Sequence[int] = (28, 28), features: int = 32, code_channels: int = 8,
        stages: int = 2, levels: int = 8) -> nn.Module:
    """Compressive autoencoder, codes rounded to multiples of 1/`levels` (image sides must be
    multiples of 2**stages: 4 by default)."""
    _positive(features=features, code_channels=code_channels, stages=stages, levels=levels)
    check_divisible(image_size, 2 ** stages, "cae")
    return CAE(in_channels, features, code_channels, stages, levels)


def check_corruption_net(net: nn.Module, x: torch.Tensor) -> None:
    """A `ShapeError` unless `net` maps the images `x` (N, C, H, W) to images of the same shape."""
    try:
        with torch.no_grad():
            out = net(x[:1])
    except RuntimeError as exc:
        first = (str(exc).strip().splitlines() or ["?"])[0]
        raise ShapeError(f"the corruption network does not accept images of shape {tuple(x.shape[1:])}: "
                         f"{first}") from None
    if not isinstance(out, torch.Tensor) or out.shape != x[:1].shape:
        got = tuple(out.shape[1:]) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ShapeError(f"a corruption network must return images of its input's shape {tuple(x.shape[1:])}, "
                         f"got {got}")


def corruption_network(net: nn.Module | str | os.PathLike, device: torch.device | str | None = None) -> nn.Module:
    """A corruption network given as a module (moved to `device` when given) or as a checkpoint path
    (loaded with `probe.models.load`, in eval mode)."""
    if isinstance(net, (str, os.PathLike)):
        return load(net, map_location=device or "cpu")
    if not isinstance(net, nn.Module):
        raise ParameterError(f"a corruption network must be an nn.Module or a checkpoint path, got "
                             f"{type(net).__name__}")
    return net.to(device) if device is not None else net
