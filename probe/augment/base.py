"""The training-augmentation hook.

An `Augmentation` turns a clean batch into a training loss.  The default draws augmented
images and targets with `images` (which is `apply` unless the augmentation needs the model, as
AdA does) and uses cross-entropy (targets may be class indices or probability vectors);
augmentations with their own loss (JSD consistency, adversarial training) override `loss`.

Random numbers are drawn with the given generator on `generator.device` and moved to the
images' device, so training is reproducible from a seed on every device.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

TWO_MAXIMISATIONS = ("AdA and adversarial training cannot be combined: each runs its own inner maximisation "
                     "against the model")


class Augmentation:
    """Identity augmentation; subclasses override `apply` (or `images`, when they need the model)
    and/or `loss`."""

    name = "none"
    maximises = False   # runs an inner maximisation against the model (AdA, PGD); two cannot be combined

    def apply(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Augmented images in [0, 1] and their targets (int labels or soft labels)."""
        return x, y

    def images(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
               generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Augmented images and targets for training `model` (`apply`, unless the augmentation needs the model)."""
        return self.apply(x, y, generator)

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
             generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Training loss on the batch, and the logits used for training accuracy."""
        images, targets = self.images(model, x, y, generator)
        logits = model(images)
        return F.cross_entropy(logits, targets), logits


def random_crop_flip(x: torch.Tensor, padding: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """Per-image random crop of a zero-padded image and (optionally) a random horizontal flip."""
    n, _, h, w = x.shape
    if padding > 0:
        padded = F.pad(x, (padding,) * 4)
        dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=generator.device).to(x.device)
        dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=generator.device).to(x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
        batch = torch.arange(n, device=x.device)[:, None, None, None]
        channel = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
        x = padded[batch, channel, rows, cols]
    if flip:
        mirror = (torch.rand(n, generator=generator, device=generator.device) < 0.5).to(x.device)
        x = torch.where(mirror[:, None, None, None], x.flip(-1), x)
    return x
