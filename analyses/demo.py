"""`make demo`: the main job on the embedded Fashion-MNIST sample.

Trains a small LeNet (or reuses its cached checkpoint), then runs every probe of the
registry (`probe.registry.PROBES`) through its real command line, and writes results (.nc),
figures (.png) and a one-screen summary to the output folder.  A probe added to the registry
runs here too (with the arguments of `DEMO_ARGUMENTS`, else its defaults).
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import time
from pathlib import Path
from typing import Callable

from probe import models, registry, results
from probe.commands import probe_main
from probe.commands.train import main as train_main
from probe.train import history_path

DATA = "fashion-mnist-sample"
TRAIN_ARGS = ["--arch", "lenet", "--data", DATA, "--epochs", "10", "--seed", "0"]
DEMO_ARGUMENTS: dict[str, list[str]] = {   # sized so that the whole demo takes about half a minute
    "evaluate": ["--n", "1500"],
    "margins": ["--n", "32", "--max-iter", "50"],
    "sparsefool": ["--n", "32", "--save-perturbations"],
    "lp": ["--n", "200", "--norms", "L0", "L1", "L2", "Linf", "--levels", "4"],
    "corruptions": ["--n", "256"],
    "flatness": ["--n", "500", "--directions", "20", "--filter-norm", "--hessian", "top:3,trace:20,density:20",
                 "--landscape", "1d", "--points", "11"],
    "overlap": ["--samples", "300"],
}


def probe_arguments(name: str, checkpoint: Path, out: Path) -> list[str]:
    """The command line of probe `name` in the demo: it writes NAME.nc and NAME.png."""
    entry = registry.entry(name)
    model = [str(checkpoint), "--data", DATA] if entry.uses_model else []
    return model + DEMO_ARGUMENTS.get(name, []) + ["--out", str(out / f"{name}.nc"),
                                                   "--plot", str(out / f"{name}.png"), "--quiet"]


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

    def log(message: str) -> None:
        print(message, flush=True)

    checkpoint = ensure_checkpoint(out, log)
    history = results.load(history_path(checkpoint))
    lines = [f"{'train':<12} LeNet, {history.sizes['epoch']} epochs, test accuracy "
             f"{history['test_accuracy'].values[-1]:.2f}%  → {checkpoint}, training.png"]
    for name, entry in registry.PROBES.items():
        log(f"running {name} ...")
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            status = probe_main(name, probe_arguments(name, checkpoint, out))
        if status != 0:
            raise SystemExit(f"demo: {name} failed with status {status}")
        seconds = time.perf_counter() - start
        headline = importlib.import_module(entry.command).headline(results.load(out / f"{name}.nc"))
        lines.append(f"{name:<12} {headline}  ({seconds:.1f}s)  → {name}.nc, {name}.png")
    summary = "\n".join([f"probe demo on {DATA} (results in {out}/)", *lines])
    (out / "summary.txt").write_text(summary + "\n")
    print("\n" + summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
