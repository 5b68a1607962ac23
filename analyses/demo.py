"""`make demo`: the main job on the embedded Fashion-MNIST sample.

Trains a small LeNet and a small corruption network for AdA (or reuses their cached
checkpoints), then runs every probe of the registry (`probe.registry.PROBES`) through its real
command line, and writes results (.nc), figures (.png) and a one-screen summary to the output
folder.  A probe added to the registry runs here too (with the arguments of `DEMO_ARGUMENTS`,
in which `{out}` stands for the output folder, else its defaults).  It ends with the quick
sanity report of the LeNet (`python -m probe.report`) in `report/`.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import time
from collections.abc import Callable
from pathlib import Path

from probe import models, registry, results
from probe.commands import probe_main
from probe.commands.corruption_net import main as corruption_net_main
from probe.commands.report import main as report_main
from probe.commands.train import main as train_main
from probe.train import history_path

DATA = "fashion-mnist-sample"
TRAIN_ARGS = ["--arch", "lenet", "--data", DATA, "--epochs", "10", "--seed", "0"]
CORRUPTION_NET_ARGS = ["--arch", "edsr", "--arch-arg", "features=8", "--arch-arg", "blocks=1", "--data", DATA,
                       "--epochs", "1", "--n", "2000", "--seed", "0"]
DEMO_ARGUMENTS: dict[str, list[str]] = {   # sized so that the whole demo takes about half a minute
    "evaluate": ["--n", "1500"],
    "margins": ["--n", "32", "--max-iter", "50"],
    "sparsefool": ["--n", "32", "--save-perturbations"],
    "lp": ["--n", "200", "--norms", "L0", "L1", "L2", "Linf", "--levels", "4"],
    "corruptions": ["--n", "256"],
    "flatness": ["--n", "500", "--directions", "20", "--filter-norm", "--hessian", "top:3,trace:20,density:20",
                 "--landscape", "1d", "--points", "11"],
    "overlap": ["--samples", "300"],
    "masking": ["--n", "32", "--steps", "1", "10"],
    "adversarial_corruptions": ["--corruption-net", "{out}/corruption_net.pt", "--n", "64"],
}


def probe_arguments(name: str, checkpoint: Path, out: Path) -> list[str]:
    """The command line of probe `name` in the demo: it writes NAME.nc and NAME.png."""
    entry = registry.entry(name)
    model = [str(checkpoint), "--data", DATA] if entry.uses_model else []
    own = [argument.replace("{out}", str(out)) for argument in DEMO_ARGUMENTS.get(name, [])]
    return model + own + ["--out", str(out / f"{name}.nc"), "--plot", str(out / f"{name}.png")]


def ensure_trained(checkpoint: Path, arguments: list[str], command: Callable[[list[str]], int], what: str,
                   log: Callable[[str], None], extra: tuple[str, ...] = ()) -> Path:
    """Run the training `command` with `arguments` unless `checkpoint` was trained with the same arguments."""
    if checkpoint.exists():
        meta = models.load(checkpoint).probe_info["meta"]
        if meta.get("demo_args") == arguments:
            log(f"reusing {checkpoint}")
            return checkpoint
    log(f"training {what} on the embedded Fashion-MNIST sample ...")
    with contextlib.redirect_stdout(io.StringIO()):   # its progress (stderr) stays visible
        status = command(arguments + ["--out", str(checkpoint), *extra])
    if status != 0:
        raise SystemExit(f"demo: training the {what} failed")
    model = models.load(checkpoint)
    models.save(model, checkpoint, meta=dict(model.probe_info["meta"], demo_args=arguments))
    return checkpoint


def ensure_checkpoint(out: Path, log: Callable[[str], None]) -> Path:
    """Train the demo LeNet unless a checkpoint trained with the same arguments exists."""
    return ensure_trained(out / "lenet.pt", TRAIN_ARGS, train_main, "LeNet", log, ("--plot", str(out / "training.png")))


def ensure_corruption_net(out: Path, log: Callable[[str], None]) -> Path:
    """Pretrain the demo's corruption network (for AdA) unless one made with the same arguments exists."""
    return ensure_trained(out / "corruption_net.pt", CORRUPTION_NET_ARGS, corruption_net_main, "corruption network",
                          log)


def sanity_report(checkpoint: Path, corruption_net: Path, folder: Path, log: Callable[[str], None]) -> str:
    """The quick sanity report of the demo LeNet (`python -m probe.report`) in `folder`; its summary line."""
    log("running the sanity report ...")
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):   # its progress (stderr) stays visible
        status = report_main([str(checkpoint), "--data", DATA, "--corruption-net", str(corruption_net),
                              "--out", str(folder), "--force"])
    if status != 0:
        raise SystemExit(f"demo: the report failed with status {status}")
    summary = json.loads((folder / "summary.json").read_text())
    checks = summary["model"]["checks"]
    tally = ", ".join(f"{sum(c['verdict'] == v for c in checks)} {v}"
                      for v in ("pass", "inconclusive", "warn", "fail", "skip"))
    return (f"{'report':<12} overall verdict {summary['verdict'].upper()} ({tally}; budget {summary['budget']})  "
            f"({time.perf_counter() - start:.1f}s)  → {folder / 'report.html'}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analyses.demo", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("runs/demo"))
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def log(message: str) -> None:
        print(message, flush=True)

    checkpoint = ensure_checkpoint(out, log)
    history = results.load(history_path(checkpoint))
    lines = [f"{'train':<12} LeNet, {history.sizes['epoch']} epochs, test accuracy "
             f"{history['test_accuracy'].values[-1]:.2f}%  → {checkpoint}, training.png"]
    corruption_net = ensure_corruption_net(out, log)
    quality = models.load(corruption_net).probe_info["meta"]
    lines.append(f"{'corrupt net':<12} EDSR reconstruction, test SSIM {quality['test_ssim']:.3f}, PSNR "
                 f"{quality['test_psnr']:.1f} dB  → {corruption_net}")
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
        log(lines[-1])
    lines.append(sanity_report(checkpoint, corruption_net, out / "report", log))
    log(lines[-1])
    lines.append(f"{'total':<12} {time.perf_counter() - started:.0f} s of wall time")
    summary = "\n".join([f"probe demo on {DATA} (results in {out}/)", *lines])
    (out / "summary.txt").write_text(summary + "\n")
    print("\n" + summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
