"""Results round-trip exactly, and a plain `xarray.open_dataset` reads attributes that mean what they say."""
from __future__ import annotations

import numpy as np
import xarray as xr

from probe import models, results


def _result(indices):
    values = np.sin(np.asarray(indices, dtype=float))
    values[np.asarray(indices) % 7 == 0] = np.inf
    return xr.Dataset({"margin": (("subspace", "sample"), np.stack([values, 2 * values]), {"units": "L2"}),
                       "converged": ("sample", np.isfinite(values))},
                      coords={"sample": np.asarray(indices), "subspace": [0, 1]})


OPTIONS = {"n": 10, "radii": (1, 2), "strengths": [0.5, 1.5], "norms": ["L2", "Linf"], "flag": True, "none": None,
           "table": {"Linf": 0.01}, "mixed": [1, "a"], "empty": [], "delta": 0.02}


def test_round_trip_keeps_values_and_attributes(tmp_path, lenet):
    ds = _result(np.arange(10))
    ds.attrs = dict(results.provenance("margins", OPTIONS, model_identity=models.model_identity(lenet),
                                       data_identity={"data": "fashion-mnist-sample", "split": "test"}, seed=3),
                    complete=True)
    ds["margin"].attrs["converged_note"] = None
    results.save(ds, tmp_path / "r.nc")
    back = results.load(tmp_path / "r.nc")
    xr.testing.assert_identical(back, ds)
    assert results.parameters(back) == {"n": 10, "radii": [1, 2], "strengths": [0.5, 1.5], "norms": ["L2", "Linf"],
                                        "flag": True, "none": None, "table": {"Linf": 0.01}, "mixed": [1, "a"],
                                        "empty": [], "delta": 0.02}
    assert back["converged"].dtype == bool and np.isinf(back["margin"].values).sum() == 4
    for key in ("probe", "probe_version", "model", "model_sha256", "model_parameters", "data", "split", "seed",
                "device", "torch_version", "created"):
        assert key in back.attrs
    assert len(back.attrs["model_sha256"]) == 64
    assert not list(tmp_path.glob(".*tmp*"))


def test_plain_xarray_reads_native_attributes(tmp_path):
    ds = _result(np.arange(4))
    ds.attrs = dict(results.provenance("margins", OPTIONS, seed=0), complete=False)
    results.save(ds, tmp_path / "r.nc")
    plain = xr.open_dataset(tmp_path / "r.nc")
    try:
        assert plain.attrs["complete"] == 0 and not plain.attrs["complete"]   # 0/1, never the truthy 'json:false'
        assert plain.attrs["param_flag"] == 1 and plain.attrs["param_n"] == 10 and plain.attrs["param_delta"] == 0.02
        assert list(plain.attrs["param_radii"]) == [1, 2] and list(plain.attrs["param_norms"]) == ["L2", "Linf"]
        assert plain.attrs["param_none"] == "none" and plain.attrs["probe"] == "margins"
        assert not any(isinstance(v, str) and v.startswith("json:") for v in plain.attrs.values())
    finally:
        plain.close()
