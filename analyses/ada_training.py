"""Standard vs AugMix vs DeepAugment vs AdA vs AdA + AugMix LeNets on Fashion-MNIST (Calian et al. 2022).

Pretrains a corruption network (EDSR, same resolution; reused when present), trains one LeNet per
augmentation with `python -m probe.train` (same seed, schedule and epochs; only `--augment`
differs; two commands at a time, one thread each), then compares on the same test images:
clean accuracy, accuracy on the 15 generated common corruptions at 5 severities (CIFAR-10-C
parameters) and the CIFAR-style mCE (`probe.corruptions`), robust accuracy under L2 and L∞ PGD
at two radii each, robust accuracy under AdA's adversarial corruptions at ν = 0.015
(`probe.adversarial_corruptions`), and the training time per epoch relative to standard training
(CPU seconds of a few batches measured in this process, plus the wall time the runs recorded).
The PGD outcome of every test image is saved in `pgd_accuracy.nc` (`correct(model, attack, sample)`,
`accuracy(model, attack)` in %), so that its intervals can be computed; `ada_training.pdf|png`
(`figures.ada_training`) draws every accuracy with its interval.

    python -m analyses.ada_training --out runs/ada_training [--epochs 5] [--n 500]

The published direction (CIFAR-10; Calian et al. 2022, "Defending against image corruptions
through adversarial augmentations", Tables 1–2): AdA lowers mCE, more with AugMix, and gains some Lp
robustness.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from analyses.corruption_training import run_all
from figures import common as figures
from figures.ada_training import draw
from probe import adversarial_corruptions, corruptions, models, results
from probe.attacks.pgd import pgd
from probe.augment import parse_augments
from probe.data import get_batch, load, subset_indices
from probe.logits import classify
from probe.params import eval_mode
from probe.tables import format_table
from probe.train import history_path

NET_ARGS = ["--arch", "edsr", "--arch-arg", "features=16", "--arch-arg", "blocks=2", "--epochs", "2"]
PGD = {"l2": (0.25, 0.5), "linf": (0.02, 0.05)}
PGD_STEPS = 20
NU = 0.015


def augmentations(net: Path) -> dict[str, list[str]]:
    """The `--augment` options of every model."""
    return {"standard": ["none"], "augmix": ["augmix"], "deepaugment": [f"deepaugment:net={net}"],
            "ada": [f"ada:net={net},nu={NU}"], "ada+augmix": [f"ada:net={net},nu={NU}", "augmix"]}


def train_commands(args: argparse.Namespace, net: Path) -> dict[str, list[str]]:
    """`probe.train` command lines of the models whose checkpoints are missing (or unfinished)."""
    commands = {}
    for name, specs in augmentations(net).items():
        checkpoint = args.out / f"{name}.pt"
        if checkpoint.exists() and not Path(f"{checkpoint}.state").exists():
            continue
        argv = ["probe.train", "--arch", "lenet", "--data", args.data, "--epochs", str(args.epochs),
                "--seed", str(args.seed), "--out", str(checkpoint), "--quiet"]
        argv += [option for spec in specs for option in ("--augment", spec)]
        if Path(f"{checkpoint}.state").exists():
            argv.append("--resume")
        commands[f"train {name}"] = argv
    return commands


def pgd_correct(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str, epsilon: float,
                seed: int) -> np.ndarray:
    """Per image: still classified correctly under PGD (`PGD_STEPS` steps, random start) in the `norm`
    ball of radius `epsilon`."""
    correct = []
    with eval_mode(model):
        for start in range(0, len(x), 250):
            images, labels = x[start:start + 250], y[start:start + 250]
            delta = pgd(model, images, labels, norm=norm, epsilon=epsilon, steps=PGD_STEPS,
                        generator=torch.Generator().manual_seed(seed + start))
            with torch.no_grad():
                correct.append(classify(model(images + delta))[0] == labels)
    return torch.cat(correct).numpy()


def attacks() -> list[tuple[str, float]]:
    """The (norm, radius) pairs of `PGD`, in the order of the table and of `pgd_accuracy.nc`."""
    return [(norm, epsilon) for norm, radii in PGD.items() for epsilon in radii]


def pgd_table(correct: dict[str, np.ndarray], args: argparse.Namespace) -> xr.Dataset:
    """`pgd_accuracy.nc`: model name → (attack, sample) correctness as `correct` and `accuracy` (%)."""
    names = list(correct)
    flags = np.stack([np.asarray(correct[name], dtype=bool) for name in names])
    found = attacks()
    ds = xr.Dataset({"correct": (("model", "attack", "sample"), flags),
                     "accuracy": (("model", "attack"), 100.0 * flags.mean(axis=2))},
                    coords={"model": names, "attack": [f"{norm}:{epsilon:g}" for norm, epsilon in found],
                            "norm": ("attack", [norm for norm, _ in found]),
                            "epsilon": ("attack", [epsilon for _, epsilon in found]),
                            "sample": np.arange(flags.shape[2])})
    ds.attrs = results.provenance("pgd_accuracy", {"data": args.data, "epochs": args.epochs, "steps": PGD_STEPS},
                                  data_identity={"data": args.data, "split": "test"}, seed=args.seed,
                                  samples=flags.shape[2])
    return ds


def cpu_seconds_per_batch(specs: list[str], args: argparse.Namespace, batches: int = 3) -> float:
    """CPU seconds of one training step (augmentation, forward, backward) on a LeNet, averaged over a few
    batches of 128 (process time, so that other work on the machine does not count)."""
    train = load(args.data, split="train")
    torch.manual_seed(args.seed)
    model = models.build("lenet", in_channels=1, num_classes=10, image_size=(28, 28), mean=[0.286], std=[0.353]).train()
    augment = parse_augments(specs, dict(train.info, num_classes=10))
    generator = torch.Generator().manual_seed(args.seed)
    x, y = get_batch(train, np.arange(128))
    augment.loss(model, x, y, generator)[0].backward()          # warm-up
    start = time.process_time()
    for _ in range(batches):
        augment.loss(model, x, y, generator)[0].backward()
    return (time.process_time() - start) / batches


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/ada_training"))
    parser.add_argument("--data", default="fashion-mnist-sample", help="the full Fashion-MNIST when installed")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--n", type=int, default=500, help="test images evaluated")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="commands run at once (one thread each)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    net = args.out / "corruption_net.pt"
    pretraining = ["probe.corruption_net", *NET_ARGS, "--data", args.data, "--seed", str(args.seed), "--out", str(net),
                   "--quiet"]
    run_all({} if net.exists() else {"pretrain corruption net": pretraining}, 1)
    print(f"corruption network: test SSIM {models.load(net).probe_info['meta']['test_ssim']:.4f}")
    run_all(train_commands(args, net), args.jobs)
    test = load(args.data, split="test")
    indices = subset_indices(len(test), args.n, args.seed)
    x, y = get_batch(test, indices)
    rows, standard_seconds, standard_cpu, pgd_flags = [], None, None, {}
    for name, specs in augmentations(net).items():
        model = models.load(args.out / f"{name}.pt")
        common = corruptions.run(model, test, indices=indices, seed=args.seed, reference="none",
                                 out=args.out / f"corruptions_{name}.nc")
        adversarial = adversarial_corruptions.run(model, test, indices=indices[:200], seed=args.seed,
                                                  corruption_net=models.load(net), radius=[NU],
                                                  out=args.out / f"adversarial_corruptions_{name}.nc")
        pgd_flags[name] = np.stack([pgd_correct(model, x, y, norm, epsilon, args.seed) for norm, epsilon in attacks()])
        robust = (100.0 * pgd_flags[name].mean(axis=1)).tolist()
        seconds = float(results.load(history_path(args.out / f"{name}.pt"))["seconds"].mean())
        cpu = cpu_seconds_per_batch(specs, args)
        standard_seconds, standard_cpu = standard_seconds or seconds, standard_cpu or cpu
        rows.append([name, float(common["clean_accuracy"]), float(common["corruption_accuracy"]), float(common["mce"]),
                     *robust, float(adversarial["robust_accuracy"].values[0]), cpu / standard_cpu,
                     seconds / standard_seconds])
        print(f"{name}: done", flush=True)
    print(f"PGD accuracies: {results.save(pgd_table(pgd_flags, args), args.out / 'pgd_accuracy.nc')}")
    pgd_headers = [f"{'L2' if norm == 'l2' else 'Linf'} {epsilon:g} %" for norm, epsilon in attacks()]
    print(format_table(["model", "clean %", "corruption %", "mCE %", *pgd_headers, f"AdA ν={NU:g} %",
                        "time/std (CPU)", "time/std (wall)"], rows))
    print(f"{len(indices)} test images of {args.data} ({len(indices[:200])} for AdA), {args.epochs} epochs; "
          f"published (CIFAR-10): AdA lowers mCE, more with AugMix, and gains some Lp robustness")
    print("figure:", ", ".join(map(str, figures.render(draw, args.out))))


if __name__ == "__main__":
    main()
