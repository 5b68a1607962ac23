"""Silent wrong results: no run adopts another's pieces, no option is recorded as applied when it
was not, no data check looks at a part of the data only."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import probe
from conftest import beyond, kill_after_first_chunk, messages, run_command
from probe import data
from probe.data.formats import write_idx
from probe.errors import DataError, ParameterError, ResumeError

MARGINS = ["--max-iter", "3", "--block", "8", "--stride", "10", "--quiet"]
QUICK = dict(n=130, max_iter=2, block=8, stride=10)   # three chunks of margins
CHUNK = probe.margins.CHUNK_SIZE


def _one_line_error(proc, *fragments):
    lines = messages(proc.stderr)
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _interrupted(model, out, dataset="fashion-mnist-sample", **options):
    """A margins run stopped (KeyboardInterrupt) after its first chunk is stored."""
    def stop():
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        probe.margins.run(model, dataset, out=out, progress=beyond(CHUNK, stop), **{**QUICK, **options})


# ----------------------------------------------------------------------------- one run per result file

HOLDER = """
import sys, time
from pathlib import Path
import probe
from probe import models

done = 0

def hold(count):   # after its first chunk (64 samples), the run waits here until it is killed
    global done
    done += count
    while done > 64:
        time.sleep(0.01)

probe.margins.run(models.load(sys.argv[1]), "fashion-mnist-sample", out=sys.argv[2], progress=hold, n=130,
                  max_iter=2, block=8, stride=10)
"""


def test_a_second_run_on_the_same_out_is_refused_until_the_first_ends(lenet_checkpoint, lenet, tmp_path):
    out = tmp_path / "m.nc"
    first = subprocess.Popen([sys.executable, "-c", HOLDER, str(lenet_checkpoint), str(out)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env=dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1"))
    chunk = Path(f"{out}.parts") / "chunk-000000.nc"
    deadline = time.monotonic() + 240
    while not chunk.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert first.poll() is None, first.stderr.read().decode()[-500:]
    argv = ["probe.margins", str(lenet_checkpoint), "--n", "130", *MARGINS, "--out", str(out)]
    for extra in ([], ["--resume"]):   # neither a fresh run (it would delete the first's chunks) nor a resume
        _one_line_error(run_command(*argv, *extra, threads=1), f"PID {first.pid}", "started", "another run")
    assert first.poll() is None and chunk.exists()
    first.send_signal(signal.SIGKILL)   # the operating system releases the lock of a killed run
    first.wait()
    resumed = probe.margins.run(lenet, "fashion-mnist-sample", out=out, resume=True, **QUICK)
    assert resumed.attrs["complete"] and not Path(f"{out}.lock").exists()


def test_the_lock_is_released_when_a_python_run_is_interrupted(lenet, tmp_path):
    out = tmp_path / "m.nc"
    _interrupted(lenet, out)
    assert not Path(f"{out}.lock").exists()
    assert probe.margins.run(lenet, "fashion-mnist-sample", out=out, resume=True, **QUICK).attrs["complete"]


# ----------------------------------------------------------------------------- resume checks every piece

def test_resume_without_the_run_description_is_refused(lenet_checkpoint, tmp_path):
    out = tmp_path / "m.nc"
    argv = ["probe.margins", str(lenet_checkpoint), "--n", "130", *MARGINS, "--out", str(out)]
    kill_after_first_chunk(argv, out)
    (tmp_path / "m.nc.parts" / "run.json").unlink()
    _one_line_error(run_command(*argv, "--resume"), "m.nc.parts", "run description")


def test_resume_refuses_a_chunk_of_another_run_or_of_other_samples(lenet, tmp_path):
    ours, theirs = tmp_path / "ours.nc", tmp_path / "theirs.nc"
    _interrupted(lenet, ours)
    _interrupted(lenet, theirs, seed=1)
    first = Path(f"{ours}.parts") / "chunk-000000.nc"
    saved = first.read_bytes()
    first.write_bytes((Path(f"{theirs}.parts") / "chunk-000000.nc").read_bytes())
    with pytest.raises(ResumeError, match="chunk-000000.nc was made by another run"):
        probe.margins.run(lenet, "fashion-mnist-sample", out=ours, resume=True, **QUICK)
    first.write_bytes(saved)
    (Path(f"{ours}.parts") / "chunk-000001.nc").write_bytes(saved)   # this run's, but the samples of chunk 0
    with pytest.raises(ResumeError, match="chunk-000001.nc does not hold this run's samples"):
        probe.margins.run(lenet, "fashion-mnist-sample", out=ours, resume=True, **QUICK)


def test_two_datasets_differing_in_a_late_image_are_not_the_same_run(lenet, sample_test, tmp_path):
    images, labels = (array.numpy() for array in data.get_batch(sample_test, np.arange(len(sample_test))))
    changed = images.copy()
    changed[1400] = 1.0 - changed[1400]   # selected, but far from the first selected images
    out = tmp_path / "m.nc"
    _interrupted(lenet, out, data.ArrayDataset(images, labels, source="mine"), indices=np.arange(1280, 1410), n=None)
    with pytest.raises(ResumeError, match="dataset images"):
        probe.margins.run(lenet, data.ArrayDataset(changed, labels, source="mine"), out=out, resume=True,
                          **{**QUICK, "n": None}, indices=np.arange(1280, 1410))


# ----------------------------------------------------------------------------- options that do not apply

@pytest.mark.parametrize("options, fragment", [
    (["--data-corruption", "gaussian_noise", "--data-severity", "3"], "--data-corruption"),
    (["--image-size", "28"], "--image-size"),
    (["--factory-arg", "num_classes=10"], "--factory"),
])
def test_options_that_do_not_apply_are_refused(options, fragment, lenet_checkpoint):
    _one_line_error(run_command("probe.evaluate", str(lenet_checkpoint), "--n", "10", "--quiet", *options), fragment)


def test_reading_options_for_data_they_do_not_apply_to_are_refused(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(3, np.uint8))
    for options in ({"corruption": "fog", "severity": 1}, {"image_size": 8}):
        with pytest.raises(DataError, match="do not apply"):
            data.load(tmp_path, **options)
    folder = tmp_path / "classes" / "a"
    folder.mkdir(parents=True)
    with pytest.raises(DataError, match="severity"):
        data.load(folder.parent, split="all", severity=2)


# ----------------------------------------------------------------------------- tensor files: every image, whole labels

def _npz(path: Path, images, labels) -> Path:
    np.savez(path, x=images, y=labels)
    return path


@pytest.mark.parametrize("value, fragment", [(np.nan, "image 300 has NaN"), (1.5, "image 300 has values in")])
def test_every_image_of_a_tensor_file_is_checked(value, fragment, lenet_checkpoint, tmp_path):
    images = np.random.default_rng(0).random((400, 28, 28), dtype=np.float32)
    images[300, 5, 5] = value
    spec = _npz(tmp_path / "d.npz", images, np.zeros(400, np.int64))
    _one_line_error(run_command("probe.evaluate", str(lenet_checkpoint), "--data", str(spec), "--split", "all",
                                "--quiet"), fragment)


@pytest.mark.parametrize("labels, fragment", [(np.array([0, 1.5, 2]), "got 1.5 at position 1"),
                                              (np.array(["cat", "dog", "cat"]), "<U3")])
def test_labels_that_are_not_whole_numbers_are_refused(labels, fragment, lenet_checkpoint, tmp_path):
    spec = _npz(tmp_path / "d.npz", np.zeros((3, 28, 28), np.float32), labels)
    _one_line_error(run_command("probe.evaluate", str(lenet_checkpoint), "--data", str(spec), "--split", "all",
                                "--quiet"), "labels must be integers", fragment)


def test_integral_float_labels_are_whole_numbers(tmp_path):
    spec = _npz(tmp_path / "d.npz", np.zeros((3, 28, 28), np.float32), np.array([0.0, 3.0, 9.0]))
    np.testing.assert_array_equal(data.get_batch(data.load(spec, split="all"), [0, 1, 2])[1].numpy(), [0, 3, 9])


def test_fractional_sample_indices_are_refused(lenet):
    with pytest.raises(ParameterError, match="sample indices must be integers"):
        probe.evaluate.run(lenet, "fashion-mnist-sample", indices=[0.5, 1.0])


# ----------------------------------------------------------------------------- batch size: the stated tolerance

RTOL, ATOL = 1e-4, 1e-6   # README ("Devices"): results agree across batch sizes to |a - b| <= RTOL |b| + ATOL


def _agree(a, b):
    for name in a.data_vars:
        if a[name].dtype.kind == "f":
            np.testing.assert_allclose(a[name].values, b[name].values, rtol=RTOL, atol=ATOL)
        else:
            np.testing.assert_array_equal(a[name].values, b[name].values)


def test_results_agree_across_batch_sizes_within_the_stated_tolerance(lenet, sample_test):
    margins = dict(n=16, block=8, stride=10, max_iter=20)
    _agree(probe.margins.run(lenet, sample_test, batch_size=3, **margins),
           probe.margins.run(lenet, sample_test, **margins))
    one, many = (probe.sparsefool.run(lenet, sample_test, n=8, batch_size=size) for size in (1, 8))
    _agree(one.drop_vars("time"), many.drop_vars("time"))   # seconds per sample: a measurement


def test_a_resume_with_another_batch_size_agrees_within_the_stated_tolerance(lenet, tmp_path):
    out = tmp_path / "m.nc"
    _interrupted(lenet, out, batch_size=3)
    resumed = probe.margins.run(lenet, "fashion-mnist-sample", out=out, resume=True, **QUICK)
    _agree(resumed, probe.margins.run(lenet, "fashion-mnist-sample", **QUICK))
