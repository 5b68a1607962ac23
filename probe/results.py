"""The result convention: xarray datasets with provenance, saved atomically as netCDF.

Attributes that netCDF cannot hold natively (bools, None, lists, dicts) are stored as JSON
strings prefixed `json:` and decoded by `load`, so a saved result loads back identical.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from probe import __version__
from probe.errors import DataError

JSON_PREFIX = "json:"


def provenance(probe: str, parameters: dict, *, model: nn.Module | None = None, data: str | None = None,
               split: str | None = None, seed: int | None = None, device: str | torch.device | None = None,
               elapsed: float | None = None) -> dict[str, Any]:
    """The dataset attributes every result carries (DESIGN.md, "Result")."""
    from probe.models import model_name, weights_sha256
    attrs: dict[str, Any] = {
        "probe": probe,
        "probe_version": __version__,
        "parameters": {k: _plain(v) for k, v in parameters.items()},
        "model": model_name(model) if model is not None else "none",
        "model_sha256": weights_sha256(model) if model is not None else "none",
        "data": str(data) if data is not None else "none",
        "split": split or "none",
        "seed": -1 if seed is None else int(seed),
        "device": str(device) if device is not None else "cpu",
        "torch_version": str(torch.__version__),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if elapsed is not None:
        attrs["elapsed_seconds"] = float(elapsed)
    return attrs


def _plain(value: Any) -> Any:
    """JSON-friendly version of a parameter value (paths, tuples, numpy scalars)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _encode_attr(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, (list, tuple, dict)):
        return JSON_PREFIX + json.dumps(_plain(value))
    if isinstance(value, str) and value.startswith(JSON_PREFIX):
        return JSON_PREFIX + json.dumps(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, str):
        return str(value)  # plain str: subclasses (e.g. torch's version string) confuse h5py
    return value


def _decode_attr(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(JSON_PREFIX):
        return json.loads(value[len(JSON_PREFIX):])
    if isinstance(value, np.generic):
        return value.item()
    return value


def _encode(ds: xr.Dataset) -> xr.Dataset:
    out = ds.copy()
    out.attrs = {k: _encode_attr(v) for k, v in ds.attrs.items()}
    for name in out.variables:
        out[name].attrs = {k: _encode_attr(v) for k, v in ds[name].attrs.items()}
    return out


def save(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write `ds` to netCDF (h5netcdf) atomically: a temporary file, then a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        _encode(ds).to_netcdf(tmp, engine="h5netcdf")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load(path: str | os.PathLike) -> xr.Dataset:
    """Read a result written by `save`, fully into memory, attributes decoded."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such result file: {path}")
    try:
        ds = xr.load_dataset(path, engine="h5netcdf")
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable netCDF result ({exc})") from None
    ds.attrs = {k: _decode_attr(v) for k, v in ds.attrs.items()}
    for name in ds.variables:
        ds[name].attrs = {k: _decode_attr(v) for k, v in ds[name].attrs.items()}
    return ds
