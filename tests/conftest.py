"""Shared fixtures: the embedded Fashion-MNIST sample and a LeNet trained on it once per session."""
from __future__ import annotations

import re

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from probe import data, models, registry  # noqa: E402
from probe.train import fit  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _seed_global_generators():
    """Every test starts from the same global RNG state, whatever ran before it."""
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(scope="session")
def sample_train():
    return data.load("fashion-mnist-sample", split="train")


@pytest.fixture(scope="session")
def sample_test():
    return data.load("fashion-mnist-sample", split="test")


@pytest.fixture(scope="session")
def lenet_checkpoint(tmp_path_factory, sample_train, sample_test):
    """Path of a LeNet trained for 8 epochs on the embedded sample (about 85 % test accuracy)."""
    path = tmp_path_factory.mktemp("models") / "lenet.pt"
    torch.manual_seed(0)
    model = models.build("lenet", in_channels=1, num_classes=10, image_size=(28, 28), mean=[0.286], std=[0.353])
    fit(model, sample_train, sample_test, epochs=8, lr=0.1, seed=0, checkpoint=path,
        meta={"data": "fashion-mnist-sample"})
    return path


@pytest.fixture(scope="session")
def corruption_net_checkpoint(tmp_path_factory, sample_train):
    """Path of a small same-resolution EDSR (8 features, 1 block) pretrained for one epoch on 2000
    images of the embedded sample (a few seconds; SSIM about 0.98 on the test split)."""
    from probe.corruption_net import pretrain
    path = tmp_path_factory.mktemp("models") / "edsr.pt"
    torch.manual_seed(0)
    net = models.build("edsr", in_channels=1, image_size=(28, 28), features=8, blocks=1)
    pretrain(net, torch.utils.data.Subset(sample_train, range(2000)), epochs=1, lr=1e-2, seed=0)
    models.save(net, path, meta={"data": "fashion-mnist-sample", "task": "reconstruction"})
    return path


# the options of the real runs behind `probe_results` (test_figures, test_figure_quality): small, seconds
FIGURE_OPTIONS = {
    "evaluate": {"n": 200},
    "margins": {"n": 6, "max_iter": 30},
    "sparsefool": {"n": 6, "save_perturbations": True},
    "lp": {"n": 48, "norms": ["L0", "L1", "L2", "Linf"], "levels": 3},
    "corruptions": {"n": 16, "corruptions": ["gaussian_noise", "contrast", "fog"], "severities": "1,3,5"},
    "flatness": {"n": 64, "directions": 3, "radii": [0.02, 0.05], "hessian": "top:2,trace:4,density:8",
                 "landscape": "1d", "points": 5},
    "overlap": {"samples": 200, "radii": 9, "norms": ["Linf", "L1", "L0"]},
    "masking": {"n": 8, "radii": [0.5, 1.0], "steps": [1, 3], "max_iter": 10},
    "adversarial_corruptions": {"n": 4, "radius": [0.0, 0.015], "steps": 2},
}


@pytest.fixture(scope="module")
def probe_results(lenet_checkpoint, corruption_net_checkpoint, sample_train, sample_test):
    """name → a real result of every registry probe, and a short training history."""
    model = models.build("lenet", in_channels=1, num_classes=10, image_size=(28, 28), mean=[0.286], std=[0.353])
    history = fit(model, torch.utils.data.Subset(sample_train, range(512)), sample_test, epochs=2, seed=0)
    history.attrs.update(probe="train", model="lenet")
    found = {"train": history}
    for name, entry in registry.PROBES.items():
        options = dict(FIGURE_OPTIONS.get(name, {"n": 8}))
        if name == "adversarial_corruptions":
            options["corruption_net"] = models.load(corruption_net_checkpoint)
        model = models.load(lenet_checkpoint) if entry.uses_model else None
        dataset = "fashion-mnist-sample" if entry.uses_model else None
        found[name] = entry.load().run(model, dataset, seed=0, **options)
    return found


@pytest.fixture()
def lenet(lenet_checkpoint):
    """A fresh copy of the trained LeNet in eval mode."""
    return models.load(lenet_checkpoint)


class NonFiniteWhere(torch.nn.Module):
    """A model whose logits are NaN on the images where `predicate(x)` (N,) holds, else `model`'s.

    Tests of the non-finite rule use it: choose the samples so that the runner's check on the
    first images passes, and later images (or perturbed ones) hit the predicate.
    """

    def __init__(self, model: torch.nn.Module, predicate) -> None:
        super().__init__()
        self.model = model
        self.predicate = predicate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(x)
        bad = self.predicate(x).to(logits.device)[:, None]
        return torch.where(bad, torch.full_like(logits, float("nan")), logits)


class Quantised(torch.nn.Module):
    """`model` on 8-bit quantised input (`torch.round` inside the forward): a model with masked
    gradients, since the input gradient of `round` is zero everywhere."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(torch.round(x * 255) / 255)


@pytest.fixture()
def bright_nan(lenet, sample_test):
    """(model, indices): the LeNet made NaN on images brighter than the median; `indices` are
    the sample's dark images first (so the runner's model check passes), then bright ones."""
    x, _ = data.get_batch(sample_test, np.arange(len(sample_test)))
    brightness = x.flatten(1).mean(1)
    threshold = float(brightness.median())
    dark = np.flatnonzero(brightness.numpy() <= threshold)
    bright = np.flatnonzero(brightness.numpy() > threshold)
    model = NonFiniteWhere(lenet, lambda images: images.flatten(1).mean(1) > threshold).eval()
    return model, np.concatenate([dark[:24], bright[:8]])


def run_command(*args: str, threads: int | None = None, process: bool = False):
    """`python -m <args>`, its text output captured and warnings silenced, as a
    `subprocess.CompletedProcess`.  By default in this process (`runpy`, with `sys.argv`, stdout and
    stderr swapped in and the exit status caught; an exception that escapes the command is status 1
    with its traceback on stderr, as the interpreter would print it): the command line, its parsing,
    exit status and messages are all real, without starting an interpreter and importing torch
    again.  `process=True` (or `threads`) runs a fresh interpreter, for what only a process shows:
    thread counts, signals, locks held by another process, what runs at import."""
    import os
    import subprocess
    import sys
    if process or threads:
        env = dict(os.environ, PYTHONWARNINGS="ignore", **({"OMP_NUM_THREADS": str(threads)} if threads else {}))
        return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=600, env=env)
    import contextlib
    import io
    import runpy
    import traceback
    import warnings

    import matplotlib.pyplot as plt
    stdout, stderr = io.StringIO(), io.StringIO()
    argv, figures = sys.argv, set(plt.get_fignums())
    code = 0
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sys.argv = [args[0], *args[1:]]
            try:
                runpy.run_module(args[0], run_name="__main__", alter_sys=True)
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
                if stop.code is not None and not isinstance(stop.code, int):
                    print(stop.code, file=sys.stderr)
            except Exception:
                code = 1
                traceback.print_exc(file=sys.stderr)
    finally:
        sys.argv = argv
        for number in set(plt.get_fignums()) - figures:   # what the process would have dropped at its end
            plt.close(number)
    return subprocess.CompletedProcess([sys.executable, "-m", *args], code, stdout.getvalue(), stderr.getvalue())


def kill_after_first_chunk(argv: list[str], out, timeout: float = 240.0) -> None:
    """Run `python -m <argv>` (one thread, so it is still busy after its first chunk) and SIGKILL it
    as soon as its first chunk is stored beside `out`."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path
    first = Path(str(out) + ".parts") / "chunk-000000.nc"
    proc = subprocess.Popen([sys.executable, "-m", *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1"))
    deadline = time.monotonic() + timeout
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    if proc.poll() is not None:
        raise AssertionError(f"the command ended before it could be killed: {proc.stderr.read().decode()[-500:]}")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not Path(out).exists(), "a killed run must not leave a result file"


@pytest.fixture(scope="module")
def untrained_checkpoint(tmp_path_factory):
    """An untrained LeNet checkpoint (seeded), for commands refused before the model matters."""
    path = tmp_path_factory.mktemp("models") / "untrained.pt"
    torch.manual_seed(0)
    models.save(models.build("lenet", in_channels=1, num_classes=10, image_size=(28, 28)), path)
    return path


PROGRESS_LINE = re.compile(r"^[\w ]+( \[[^\]]*\])?: (\d+% \(|started$|≈ )")   # probe.progress in a log


def messages(stderr: str) -> list[str]:
    """The lines of a command's stderr that speak to the user: every line but the progress lines
    (`probe.progress` writes plain lines when stderr is not a terminal)."""
    return [line for line in stderr.strip().splitlines() if line and not PROGRESS_LINE.match(line)]


def one_line_error(proc) -> str:
    """The single `error: ...` line of a command that exited with status 2 (asserted); progress
    lines before it are the log of the work done until then."""
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = messages(proc.stderr)
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    return lines[0]


def beyond(samples: int, action):
    """A `progress` callback that calls `action()` once more than `samples` samples are reported:
    with `samples` = the chunk size, while the second chunk runs, i.e. after the first is stored."""
    done = 0.0

    def callback(amount: float) -> None:
        nonlocal done
        done += amount
        if done > samples:
            action()
    return callback
