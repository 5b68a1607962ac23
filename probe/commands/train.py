"""`python -m probe.train --arch lenet --data SPEC --epochs E --out MODEL.pt`: train and save a checkpoint.

Builds the model (normalisation from the training images unless --mean/--std), the data (with an
optional frequency --transform and a seeded --n subset; image folders with --image-size S train
on random resized crops and test on resized centre crops), the augmentation (--augment, wrapped
by --adversarial), then `probe.train.fit`; writes the checkpoint every epoch and the history
beside it.  Under `torchrun --nproc-per-node N -m probe.train ...` it trains with
DistributedDataParallel and only rank 0 writes files.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import cast

import torch

from probe import distributed, models, progress, results, runner
from probe.augment import parse_augments
from probe.augment.adversarial import parse_adversarial
from probe.commands import common
from probe.data import TransformedDataset, dataset_size, image_shape, num_classes, subset_indices
from probe.data.formats import ImageFolder
from probe.data.transforms import parse_transform
from probe.errors import ParameterError
from probe.train import SCHEDULES, channel_statistics, fit, history_path
from probe.train.loader import RandomResizedCrops


def build_parser() -> argparse.ArgumentParser:
    parser = common.make_parser("python -m probe.train", "Train a classifier and save a probe checkpoint.",
                                example="python -m probe.train --arch lenet --data fashion-mnist --epochs 3 "
                                        "--out lenet.pt",
                                checkpoint=False, split=False)
    parser.add_argument("--arch", default="lenet", help="architecture (%(default)s); see probe.models.ARCHITECTURES")
    parser.add_argument("--arch-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="architecture keyword argument, e.g. depth=16 (repeatable)")
    parser.add_argument("--epochs", type=common.positive_int, default=10)
    parser.add_argument("--lr", type=float, default=0.1, help="peak learning rate")
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--nesterov", action="store_true")
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--schedule", default="triangular", choices=SCHEDULES)
    parser.add_argument("--clip-grad", type=float, default=0.5, help="gradient-norm clipping (0: off)")
    parser.add_argument("--no-standard-augment", action="store_true", help="no random crop / flip")
    parser.add_argument("--augment", action="append", metavar="NAME[:ARGS]",
                        help="training augmentation (see probe.augment); repeat to compose, applied in the order "
                             "DeepAugment, AdA, then the others (AugMix last)")
    parser.add_argument("--adversarial", help="PGD adversarial training wrapping --augment: l2:EPS[:STEPS] or "
                                              "linf:EPS[:STEPS]")
    parser.add_argument("--transform", help="data transform: dct-flip, low-pass:B, high-pass:B")
    parser.add_argument("--mean", type=float, nargs="+", help="per-channel input mean (default: from the data)")
    parser.add_argument("--std", type=float, nargs="+", help="per-channel input std (default: from the data)")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint written each epoch")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader processes decoding batches (default 0)")
    parser.add_argument("--amp", choices=("bf16", "fp16"), help="mixed precision on CUDA (fp16 with a gradient scaler)")
    parser.add_argument("--warmup-epochs", type=float, default=0.0,
                        help="linear learning-rate warm-up before the schedule")
    parser.add_argument("--lr-scaling", choices=("linear",),
                        help="multiply --lr by the global batch / 256 (default: --lr is the peak as given)")
    parser.add_argument("--sync-bn", action="store_true", help="SyncBatchNorm across torchrun ranks")
    parser.set_defaults(batch_size=128)
    return parser


def run(args: argparse.Namespace) -> None:
    common.check_checkpoint_out(args)
    runner.check_output(args.plot, common.PLOT_SUFFIXES)
    if (args.mean is None) != (args.std is None):
        raise ParameterError("--mean and --std go together (else both come from the training images)")
    device = distributed.start(common.resolve_device(args.device))
    main_rank = distributed.world()[0] == 0
    args.quiet = args.quiet or not main_rank
    train_set = common.load_data(args, "train")
    test_set = common.load_data(args, "test")
    if isinstance(train_set, ImageFolder) and args.image_size:
        train_set = RandomResizedCrops(train_set, args.image_size)   # ImageNet-style training crops
    if args.transform:
        transform = parse_transform(args.transform)
        train_set = TransformedDataset(train_set, transform, args.transform)
        test_set = TransformedDataset(test_set, transform, args.transform)
    if args.n is not None:
        train_set = torch.utils.data.Subset(train_set, subset_indices(dataset_size(train_set), args.n,
                                                                      args.seed).tolist())
        # the data's description travels with the subset (torch's `Subset` declares no `info`)
        train_set.info = dict(getattr(train_set.dataset, "info", {}))   # type: ignore[attr-defined]
    channels, height, width = image_shape(test_set)
    mean, std = (args.mean, args.std) if args.mean is not None else channel_statistics(train_set)
    torch.manual_seed(args.seed)
    model = models.build(args.arch, in_channels=channels, num_classes=num_classes(test_set),
                         image_size=(height, width), mean=mean, std=std,
                         **common.key_values(args.arch_arg, "--arch-arg"))
    augment = parse_augments(args.augment or ["none"],
                             dict(getattr(train_set, "info", {}), num_classes=num_classes(test_set)))
    if args.adversarial:
        augment = parse_adversarial(args.adversarial, inner=augment)
    meta = {"data": args.data, "transform": args.transform or "none", "augment": " ".join(args.augment or ["none"]),
            "adversarial": args.adversarial or "none", "epochs": args.epochs, "lr": args.lr,
            "schedule": args.schedule, "seed": args.seed, "input_shape": [channels, height, width]}
    bar = common.progress_bar(args.epochs * dataset_size(train_set), "training", args.quiet, unit="image")
    try:
        history = fit(model, train_set, test_set, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                      momentum=args.momentum, nesterov=args.nesterov, weight_decay=args.weight_decay,
                      schedule=args.schedule, clip_grad=args.clip_grad or None,
                      standard_augment=not args.no_standard_augment, augment=augment, seed=args.seed,
                      device=device, checkpoint=args.out, meta=meta, resume=args.resume,
                      progress=bar.update, log=None if args.quiet else cast(progress.Progress, bar).write,
                      workers=args.workers,
                      amp=args.amp, warmup_epochs=args.warmup_epochs, lr_scaling=args.lr_scaling,
                      sync_bn=args.sync_bn)
    finally:
        bar.close()
    if not main_rank:
        return
    options = {k: v for k, v in vars(args).items() if k not in ("out", "plot", "quiet", "device", "resume")}
    history.attrs = dict(results.provenance("train", options, model_identity=models.model_identity(model),
                                            data_identity={"data": args.data, "split": "train"}, seed=args.seed,
                                            device=device),
                         complete=True, elapsed_seconds=float(history["seconds"].sum()))
    results.save(history, history_path(args.out))
    if not args.quiet:
        print(f"checkpoint: {args.out}\nhistory: {history_path(args.out)}")
        if "test_accuracy" in history:
            print(f"final test accuracy: {history['test_accuracy'].values[-1]:.2f}%")
    common.save_plot(history, args.plot, args.quiet)


def main(argv: Sequence[str] | None = None) -> int:
    return common.execute(build_parser(), run, argv)
