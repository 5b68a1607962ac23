"""`python -m probe.corruption_net --arch edsr|cae --data SPEC --out NET.pt`: pretrain a corruption network.

Builds the image-to-image network (`probe.models.corruption_nets`, options by --arch-arg),
trains it to reproduce the training images (`probe.corruption_net.pretrain`), measures PSNR and
SSIM on the test split, and saves an ordinary probe checkpoint whose metadata record them.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import cast

import torch

from probe import models, progress
from probe.commands import common
from probe.corruption_net import LEARNING_RATE, TARGET_SSIM, pretrain, reconstruction_quality
from probe.data import dataset_size, image_shape, subset_indices
from probe.errors import ParameterError


def build_parser() -> argparse.ArgumentParser:
    parser = common.make_parser("python -m probe.corruption_net",
                                "Pretrain a corruption network (for AdA and DeepAugment) to reproduce its input.",
                                example="python -m probe.corruption_net --arch edsr --data fashion-mnist --out net.pt",
                                checkpoint=False, split=False)
    parser.add_argument("--arch", default="edsr", choices=sorted(models.IMAGE_TO_IMAGE),
                        help="corruption network (default %(default)s)")
    parser.add_argument("--arch-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="architecture keyword argument, e.g. features=16 (repeatable)")
    parser.add_argument("--epochs", type=common.positive_int, default=5)
    parser.add_argument("--lr", type=float, help="peak Adam learning rate, cosine decay (default: "
                                                 + ", ".join(f"{a} {v:g}" for a, v in LEARNING_RATE.items()) + ")")
    parser.add_argument("--ssim-weight", type=float, default=1.0, help="weight of 1 − SSIM in the loss")
    parser.set_defaults(batch_size=64)
    return parser


def run(args: argparse.Namespace) -> None:
    common.check_checkpoint_out(args)
    if args.plot is not None:
        raise ParameterError("--plot: pretraining a corruption network draws no figure")
    device = common.resolve_device(args.device)
    train_set = common.load_data(args, "train")
    test_set = common.load_data(args, "test")
    if args.n is not None:
        train_set = torch.utils.data.Subset(train_set, subset_indices(dataset_size(train_set), args.n,
                                                                      args.seed).tolist())
    train_images = dataset_size(train_set)
    channels, height, width = image_shape(test_set)
    torch.manual_seed(args.seed)
    net = models.build(args.arch, in_channels=channels, image_size=(height, width),
                       **common.key_values(args.arch_arg, "--arch-arg"))
    lr = args.lr or LEARNING_RATE[args.arch]
    bar = common.progress_bar(args.epochs * train_images, "pretraining", args.quiet, unit="image")
    try:
        pretrain(net, train_set, epochs=args.epochs, batch_size=args.batch_size, lr=lr,
                 ssim_weight=args.ssim_weight, seed=args.seed, device=device, progress=bar.update,
                 log=None if args.quiet else cast(progress.Progress, bar).write)   # not quiet: a Progress
    finally:
        bar.close()
    quality = reconstruction_quality(net, test_set, device=device)
    meta = {"task": "reconstruction", "data": args.data, "epochs": args.epochs, "lr": lr,
            "ssim_weight": args.ssim_weight, "seed": args.seed, "train_images": train_images,
            "test_psnr": quality["psnr"], "test_ssim": quality["ssim"], "input_shape": [channels, height, width]}
    models.save(net, args.out, meta=meta)
    if not args.quiet:
        target = TARGET_SSIM[args.arch]
        verdict = "reaches" if quality["ssim"] >= target else "is BELOW"
        print(f"test PSNR {quality['psnr']:.2f} dB, SSIM {quality['ssim']:.4f} ({verdict} the target {target} "
              f"for {args.arch})\ncorruption network: {args.out}")


def main(argv: Sequence[str] | None = None) -> int:
    return common.execute(build_parser(), run, argv)
