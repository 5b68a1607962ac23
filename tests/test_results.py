"""Results round-trip with their attributes; chunked runs resume to the identical result."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from probe import results, runner
from probe.errors import ParameterError


def _result(indices):
    values = np.sin(np.asarray(indices, dtype=float))
    values[np.asarray(indices) % 7 == 0] = np.inf
    return xr.Dataset({"margin": (("subspace", "sample"), np.stack([values, 2 * values]), {"units": "L2"}),
                       "converged": ("sample", np.isfinite(values))},
                      coords={"sample": np.asarray(indices), "subspace": [0, 1]})


def test_round_trip_keeps_values_and_attributes(tmp_path, lenet):
    ds = _result(np.arange(10))
    ds.attrs = results.provenance("margins", {"n": 10, "radii": (1, 2), "flag": True, "none": None},
                                  model=lenet, data="fashion-mnist-sample", split="test", seed=3)
    results.save(ds, tmp_path / "r.nc")
    back = results.load(tmp_path / "r.nc")
    xr.testing.assert_identical(back, ds)
    assert back.attrs["parameters"] == {"n": 10, "radii": [1, 2], "flag": True, "none": None}
    assert back["converged"].dtype == bool and np.isinf(back["margin"].values).sum() == 4
    for key in ("probe", "probe_version", "model", "model_sha256", "data", "split", "seed", "device",
                "torch_version", "created"):
        assert key in back.attrs
    assert len(back.attrs["model_sha256"]) == 64
    assert not list(tmp_path.glob(".*tmp*"))


def test_interrupted_run_resumes_to_identical_result(tmp_path):
    indices = np.arange(3, 40, 3)
    attrs = results.provenance("test", {"n": len(indices)})
    calls = []

    def compute(chunk):
        calls.append(chunk.tolist())
        if len(calls) == 3 and interrupt:
            raise KeyboardInterrupt
        return _result(chunk)

    interrupt = True
    with pytest.raises(KeyboardInterrupt):
        runner.run_chunked(compute, indices, attrs, chunk_size=4, out=tmp_path / "run.nc")
    partial = results.load(tmp_path / "run.nc")
    assert partial.attrs["complete"] is False and partial.sizes["sample"] == 8
    interrupt, calls = False, []
    resumed = runner.run_chunked(compute, indices, attrs, chunk_size=4, out=tmp_path / "run.nc", resume=True)
    assert calls == [indices[8:12].tolist(), indices[12:].tolist()]
    fresh = runner.run_chunked(compute, indices, attrs, chunk_size=4)
    xr.testing.assert_identical(resumed.drop_attrs(), fresh.drop_attrs())
    assert results.load(tmp_path / "run.nc").attrs["complete"] is True
    with pytest.raises(ParameterError, match="different parameters"):
        runner.run_chunked(compute, indices, results.provenance("test", {"n": 99}), chunk_size=4,
                           out=tmp_path / "run.nc", resume=True)
