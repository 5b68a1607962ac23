"""`make demo`: the main job on the embedded Fashion-MNIST sample.

Trains a small LeNet (or reuses its cached checkpoint), evaluates it, runs every probe
through its real command line, and writes results (.nc), figures (.png) and a one-screen
summary to the output folder.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import time
from pathlib import Path
from typing import Callable

from probe import models, results
from probe.train import history_path
from probe.train import main as train_main

DATA = "fashion-mnist-sample"
TRAIN_ARGS = ["--arch", "lenet", "--data", DATA, "--epochs", "10", "--seed", "0"]


def probe_steps(checkpoint: Path, out: Path) -> list[tuple[str, str, list[str]]]:
    """(name, module, arguments) of every probe the demo runs; each writes NAME.nc and NAME.png."""
    def common(name: str, n: int) -> list[str]:
        return [str(checkpoint), "--data", DATA, "--n", str(n), "--out", str(out / f"{name}.nc"),
                "--plot", str(out / f"{name}.png"), "--quiet"]

    return [
        ("evaluate", "probe.evaluate", common("evaluate", 1500)),
        ("margins", "probe.margins", common("margins", 32) + ["--max-iter", "50"]),
        ("sparsefool", "probe.sparsefool", common("sparsefool", 32) + ["--batch-size", "32", "--save-perturbations"]),
        ("lp", "probe.lp", common("lp", 200) + ["--norms", "L0", "L1", "L2", "Linf", "--levels", "4"]),
        ("corruptions", "probe.corruptions", common("corruptions", 256)),
        ("flatness", "probe.flatness", common("flatness", 500) + [
            "--directions", "20", "--filter-norm", "--hessian", "top:3,trace:20,density:20", "--landscape", "1d",
            "--points", "11"]),
        ("overlap", "probe.overlap", ["--samples", "300", "--out", str(out / "overlap.nc"),
                                      "--plot", str(out / "overlap.png"), "--quiet"]),
    ]


def summarize(name: str, ds) -> str:
    """One line of the summary for a result."""
    if name == "evaluate":
        return f"accuracy {100 * float(ds['correct'].mean()):.2f}% on {ds.sizes['sample']} test images"
    if name == "sparsefool":
        from probe.sparsefool import summary
        numbers = summary(ds)
        return (f"fooling rate {numbers['fooling rate (%)']:.1f}%, median {numbers['median perturbed pixels (%)']:.2f}% "
                f"of pixels, {numbers['mean time per sample (s)'] * 1000:.0f} ms/sample")
    if name == "lp":
        return (f"clean {float(ds['clean_accuracy']):.1f}%, mCE_Lp {float(ds['mce_lp']):.2f}%, "
                f"iCE {float(ds['ice']):.2f}%")
    if name == "corruptions":
        return f"clean {float(ds['clean_accuracy']):.1f}%, corruption accuracy {float(ds['corruption_accuracy']):.1f}%, mCE {float(ds['mce']):.2f}"
    if name == "overlap":
        from probe.lp import norm_name
        eps = ds["epsilon_50"]
        return "50% radii (ball in L2:4): " + ", ".join(
            f"{norm_name(p)}: {float(v):.3g}" for p, v in zip(eps["p"].values, eps.isel(direction=0).values))
    if name == "margins":
        median = ds["margin"].median("sample")
        return (f"median margin {float(median.min()):.3g} (lowest band) … {float(median.max()):.3g}; "
                f"not converged {100 * (1 - float(ds['converged'].mean())):.1f}%")
    if name == "flatness":
        largest = float(ds["flatness"].isel(radius=-1))
        return (f"F(γ={float(ds['radius'][-1]):.3g}) {largest:.4g} ± {float(ds['flatness_se'].isel(radius=-1)):.2g}, "
                f"top eigenvalue {float(ds['eigenvalue'][0]):.4g}, trace {float(ds['trace']):.4g} ± {float(ds['trace_se']):.2g}")
    raise KeyError(name)


def ensure_checkpoint(out: Path, log: Callable[[str], None]) -> Path:
    """Train the demo LeNet unless a checkpoint trained with the same arguments exists."""
    checkpoint = out / "lenet.pt"
    if checkpoint.exists():
        meta = models.load(checkpoint).probe_info["meta"]
        if meta.get("demo_args") == TRAIN_ARGS:
            log(f"reusing {checkpoint}")
            return checkpoint
    log("training LeNet on the embedded Fashion-MNIST sample ...")
    if train_main(TRAIN_ARGS + ["--out", str(checkpoint), "--quiet", "--plot", str(out / "training.png")]) != 0:
        raise SystemExit("demo: training failed")
    model = models.load(checkpoint)
    models.save(model, checkpoint, meta=dict(model.probe_info["meta"], demo_args=TRAIN_ARGS))
    return checkpoint


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analyses.demo", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("runs/demo"))
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []

    def log(message: str) -> None:
        print(message, flush=True)

    checkpoint = ensure_checkpoint(out, log)
    history = results.load(history_path(checkpoint))
    lines.append(f"{'train':<12} LeNet, {history.sizes['epoch']} epochs, test accuracy "
                 f"{history['test_accuracy'].values[-1]:.2f}%  → {checkpoint}, training.png")
    for name, module, arguments in probe_steps(checkpoint, out):
        log(f"running {name} ...")
        start = time.perf_counter()
        captured = io.StringIO()
        with contextlib.redirect_stdout(captured):
            status = importlib.import_module(module).main(arguments)
        if status != 0:
            raise SystemExit(f"demo: {name} failed with status {status}")
        seconds = time.perf_counter() - start
        ds = results.load(out / f"{name}.nc")
        lines.append(f"{name:<12} {summarize(name, ds)}  ({seconds:.1f}s)  → {name}.nc, {name}.png")
    summary = "\n".join([f"probe demo on {DATA} (results in {out}/)", *lines])
    (out / "summary.txt").write_text(summary + "\n")
    print("\n" + summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
