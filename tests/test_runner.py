"""The runner: model checks before any work, resume identity, SIGKILL resume, provenance, batch independence."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr
from torch import nn

import probe
from conftest import beyond, kill_after_first_chunk, messages, run_command
from probe import models, registry, results, runner
from probe.data import ArrayDataset
from probe.errors import DataError, ModelError, ResumeError

MODEL_PROBES = [name for name, entry in registry.PROBES.items() if entry.uses_model]
QUICK_OPTIONS = {"margins": {"max_iter": 2}, "sparsefool": {"max_iter": 1}, "lp": {"levels": 1},
                 "corruptions": {"corruptions": ["gaussian_noise"], "severities": "1"},
                 "flatness": {"directions": 2, "radii": [0.1]},
                 "masking": {"radii": [0.5], "steps": [2], "max_iter": 2},
                 "adversarial_corruptions": {"corruption_net": models.build("edsr", features=4, blocks=1),
                                             "radius": [0.01], "steps": 1}}


def _one_line_error(proc, fragment):
    lines = messages(proc.stderr)
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert fragment in lines[0], lines[0]


class Constant(nn.Module):
    """Logits `value` for every image, `classes` of them."""

    def __init__(self, classes: int, value: float = 0.0) -> None:
        super().__init__()
        self.classes, self.value = classes, value
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x):
        return self.scale * torch.full((len(x), self.classes), self.value, device=x.device)


@pytest.mark.parametrize("name", MODEL_PROBES)
def test_nan_model_is_refused_by_every_probe_before_any_work(name, sample_test):
    with pytest.raises(ModelError, match="non-finite logits"):
        registry.entry(name).load().run(Constant(10, float("nan")), sample_test, n=4, **QUICK_OPTIONS.get(name, {}))


@pytest.mark.parametrize("name", MODEL_PROBES)
def test_single_output_model_is_refused(name, sample_test):
    with pytest.raises(ModelError, match="K ≥ 2"):
        registry.entry(name).load().run(Constant(1), sample_test, n=4, **QUICK_OPTIONS.get(name, {}))


def test_labels_outside_the_models_classes_are_refused(lenet):
    images = np.random.default_rng(0).random((6, 1, 28, 28)).astype(np.float32)
    with pytest.raises(DataError, match="label 19"):
        probe.evaluate.run(lenet, ArrayDataset(images, np.arange(14, 20)))


def test_model_outputs_of_the_wrong_shape_are_refused(sample_test):
    class Flat(nn.Module):
        def forward(self, x):
            return x.flatten()
    with pytest.raises(ModelError, match=r"shape \(N, K\)"):
        probe.evaluate.run(Flat(), sample_test, n=3)


def test_python_run_and_command_line_give_the_same_result(lenet_checkpoint, tmp_path):
    proc = run_command("probe.margins", str(lenet_checkpoint), "--n", "5", "--max-iter", "10", "--block", "8",
                "--stride", "10", "--out", str(tmp_path / "cli.nc"), "--quiet")
    assert proc.returncode == 0, proc.stderr
    python = probe.margins.run(models.load(lenet_checkpoint), "fashion-mnist-sample", n=5, max_iter=10, block=8,
                               stride=10, out=tmp_path / "py.nc")
    cli = results.load(tmp_path / "cli.nc")
    xr.testing.assert_identical(cli.drop_attrs(), python.drop_attrs())
    timing = {"created", "elapsed_seconds"}
    assert {k: v for k, v in cli.attrs.items() if k not in timing} == \
           {k: v for k, v in python.attrs.items() if k not in timing}


# per chunked probe: options giving several chunks, each quick; the same working batch in every run
SIGKILL_RUNS = {
    "evaluate": ["--split", "train", "--n", "5000", "--batch-size", "16"],
    "margins": ["--n", "130", "--max-iter", "3", "--block", "8", "--stride", "10"],
    "sparsefool": ["--n", "130", "--max-iter", "1", "--candidates", "2"],
    "lp": ["--n", "300", "--norms", "L2", "Linf", "--levels", "2", "--batch-size", "32"],
    "corruptions": ["--n", "300", "--corruptions", "gaussian_noise", "--severities", "1,3"],
    "masking": ["--n", "130", "--radii", "0.5", "--steps", "2", "--max-iter", "3"],
    "adversarial_corruptions": ["--corruption-net", "CORRUPTION_NET", "--n", "130", "--radius", "0", "0.01",
                                "--steps", "1", "--examples", "2"],
}
TIMING = {"created", "elapsed_seconds"}


def test_every_chunked_probe_has_a_sigkill_case():
    assert set(SIGKILL_RUNS) == {name for name, entry in registry.PROBES.items() if entry.chunked}


@pytest.mark.parametrize("name", sorted(SIGKILL_RUNS))
def test_sigkill_then_resume_equals_an_uninterrupted_run(name, lenet_checkpoint, tmp_path, request):
    options = [str(request.getfixturevalue("corruption_net_checkpoint")) if option == "CORRUPTION_NET" else option
               for option in SIGKILL_RUNS[name]]
    argv = [f"probe.{name}", str(lenet_checkpoint), *options, "--quiet"]
    out = tmp_path / "killed.nc"
    kill_after_first_chunk(argv + ["--out", str(out)], out)
    resumed = run_command(*argv, "--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    whole = run_command(*argv, "--out", str(tmp_path / "whole.nc"))
    assert whole.returncode == 0, whole.stderr
    a, b = results.load(out), results.load(tmp_path / "whole.nc")
    measured = [v for v in ("time",) if v in a]     # SparseFool's seconds per sample: a measurement
    xr.testing.assert_identical(a.drop_vars(measured).drop_attrs(), b.drop_vars(measured).drop_attrs())
    assert ({k: v for k, v in a.attrs.items() if k not in TIMING}
            == {k: v for k, v in b.attrs.items() if k not in TIMING})
    assert a.attrs["complete"] and not (tmp_path / "killed.nc.parts").exists()


def test_resume_after_the_checkpoint_was_replaced_is_refused(lenet_checkpoint, tmp_path):
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(lenet_checkpoint.read_bytes())
    out = tmp_path / "m.nc"
    argv = ["probe.margins", str(checkpoint), "--n", "130", "--max-iter", "3", "--block", "8", "--stride", "10",
            "--quiet", "--out", str(out)]
    kill_after_first_chunk(argv, out)
    other = models.load(checkpoint)
    with torch.no_grad():
        next(other.parameters()).add_(0.01)
    models.save(other, checkpoint)
    _one_line_error(run_command(*argv, "--resume"), "model weights")


def test_resume_refuses_other_options_data_and_samples(lenet, sample_train, tmp_path):
    out = tmp_path / "m.nc"
    options = dict(n=70, max_iter=2, block=8, stride=10)

    def stop():
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        probe.margins.run(lenet, "fashion-mnist-sample", out=out, progress=beyond(probe.margins.CHUNK_SIZE, stop),
                          **options)
    changes = (({"max_iter": 3}, "max_iter"), ({"n": 71}, "selected samples"), ({"seed": 1}, "seed"))
    for change, word in changes:
        with pytest.raises(ResumeError, match=word):
            probe.margins.run(lenet, "fashion-mnist-sample", out=out, resume=True, **{**options, **change})
    with pytest.raises(ResumeError, match="dataset"):
        probe.margins.run(lenet, sample_train, out=out, resume=True, **options)
    done = probe.margins.run(lenet, "fashion-mnist-sample", out=out, resume=True, batch_size=5, **options)
    assert done.attrs["complete"]   # another working batch may continue the run
    with pytest.raises(ResumeError, match="max_iter"):   # a finished run is only reused by the same run
        probe.margins.run(lenet, "fashion-mnist-sample", out=out, resume=True, **{**options, "max_iter": 3})


def test_interrupt_before_the_first_chunk_names_no_file(lenet_checkpoint, tmp_path, monkeypatch, capsys):
    from probe.commands import probe_main

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(runner, "check_model", interrupted)
    out = tmp_path / "never.nc"
    assert probe_main("evaluate", [str(lenet_checkpoint), "--out", str(out)]) == 130
    message = capsys.readouterr().err
    assert "nothing was saved" in message and str(out) not in message and not out.exists()


def test_stale_temporary_files_are_removed_by_the_next_run(lenet, tmp_path):
    out = tmp_path / "e.nc"
    stale = [tmp_path / ".e.nc.tmp99999", tmp_path / "e.nc.parts" / ".chunk-000000.nc.tmp4242"]
    stale[1].parent.mkdir()
    for path in stale:
        path.write_bytes(b"half a file")
    probe.evaluate.run(lenet, "fashion-mnist-sample", n=10, out=out)
    assert out.exists() and not any(path.exists() for path in stale)


def test_a_result_does_not_depend_on_the_batch_size(lenet, sample_test):
    a = probe.evaluate.run(lenet, sample_test, n=300, batch_size=7)
    b = probe.evaluate.run(lenet, sample_test, n=300)
    for name in a.data_vars:   # classes exactly; confidences up to float summation order
        np.testing.assert_allclose(a[name].values, b[name].values, rtol=1e-5)
    assert np.array_equal(a["prediction"].values, b["prediction"].values)


def test_the_data_follows_the_model_and_the_model_is_left_as_found(lenet, sample_test):
    lenet.train()
    before = {k: v.clone() for k, v in lenet.state_dict().items()}
    ds = probe.evaluate.run(lenet, sample_test, n=20)
    assert lenet.training and ds.attrs["device"] == "cpu"
    assert all(torch.equal(before[k], v) for k, v in lenet.state_dict().items())


def test_non_finite_samples_are_flagged_and_excluded_from_the_accuracy(bright_nan, sample_test):
    model, indices = bright_nan
    ds = probe.evaluate.run(model, sample_test, indices=indices)
    bright = np.isin(ds["sample"].values, indices[24:])
    assert not ds["finite"].values[bright].any() and ds["finite"].values[~bright].all()
    assert (ds["prediction"].values[bright] == -1).all() and not ds["correct"].values[bright].any()
    numbers = probe.evaluate.summary(ds)
    assert numbers["non_finite"] == 8
    assert numbers["accuracy"] == pytest.approx(100 * ds["correct"].values[~bright].mean())
    assert not any(np.isnan(ds[v].values).any() for v in ds.data_vars if ds[v].dtype.kind == "f")


def test_every_chunked_probe_with_summaries_exposes_its_finalize():
    """`probe.merge` folds shards with the probe module's own `finalize`: a probe whose run adds
    summary variables must expose it (else merged shards would lack them)."""
    import inspect
    for name, entry in registry.PROBES.items():
        if entry.chunked and "finalize=" in inspect.getsource(entry.load().run):
            assert callable(getattr(entry.load(), "finalize", None)), name


def test_seeded_subsets_are_nested_across_n():
    """n samples with seed s are the first n of one seeded permutation: smaller runs lie inside larger ones."""
    for seed in (0, 3):
        chosen = [set(runner.select(1000, n, None, seed)) for n in (8, 32, 64, 500, 1000)]
        assert all(small <= large for small, large in zip(chosen, chosen[1:]))
        assert [len(c) for c in chosen] == [8, 32, 64, 500, 1000]
    assert set(runner.select(1000, 64, None, 0)) != set(runner.select(1000, 64, None, 1))


def test_probes_run_on_the_same_seed_share_their_samples(sample_test):
    """Every probe draws its samples through the runner: n = 8 ⊂ n = 16 for each, and the same set across probes."""
    small = {name: registry.entry(name).load().run(Constant(10), sample_test, n=8, seed=2,
                                                     **QUICK_OPTIONS.get(name, {}))["sample"].values
             for name in ("evaluate", "lp", "flatness")}
    large = probe.evaluate.run(Constant(10), sample_test, n=16, seed=2)["sample"].values
    for name, indices in small.items():
        np.testing.assert_array_equal(indices, small["evaluate"], err_msg=name)
        assert set(indices) <= set(large), name


def test_shards_partition_the_nested_subset(sample_test, tmp_path):
    """Shards of a seeded run still partition its samples, which are the same as an unsharded run's."""
    whole = probe.evaluate.run(Constant(10), sample_test, n=1500, seed=1, out=tmp_path / "whole.nc")
    parts = [probe.evaluate.run(Constant(10), sample_test, n=1500, seed=1, out=tmp_path / f"s{i}.nc", shard=f"{i}/2")
             for i in range(2)]
    indices = np.concatenate([p["sample"].values for p in parts])
    assert len(set(indices)) == len(indices) == 1500
    assert set(indices) == set(whole["sample"].values)
