"""The result convention: xarray datasets with provenance, saved atomically as netCDF.

Attributes are stored as netCDF-native values, so that a plain `xarray.open_dataset` user
reads them as they are meant: numbers, strings and arrays; flags as 0/1; `None` as the
string 'none'; only dictionaries (and lists mixing types) as JSON text.  A small attribute
`probe_attribute_types` records which attributes need converting back, so `load` returns
exactly the dataset that was saved (bools as bools, lists as lists).

Provenance: `probe`, `probe_version`, one `param_<name>` attribute per
option of the probe, `seed`, `samples`, the model (`model`, `model_sha256`,
`model_parameters`), the data (`data`, `split`, `data_size`, `data_fingerprint`), `device`,
`torch_version`, `created`, `elapsed_seconds` and `complete`.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from probe import __version__
from probe.errors import DataError

TYPES_ATTRIBUTE = "probe_attribute_types"
PARAMETER_PREFIX = "param_"


def variable(dims: str | Sequence[str], values: Any, long_name: str, units: str | None = None) -> tuple:
    """A `(dims, values, attrs)` tuple for `xr.Dataset`, with `long_name` and (if any) `units`."""
    attrs = {"long_name": long_name}
    if units is not None:
        attrs["units"] = units
    return dims, values, attrs


def plain(value: Any) -> Any:
    """A JSON-friendly, netCDF-friendly version of a parameter value (paths, tuples, numpy scalars)."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def parameters(ds: xr.Dataset) -> dict[str, Any]:
    """The probe options recorded in a result's attributes (`param_<name>` → name)."""
    return {k[len(PARAMETER_PREFIX):]: v for k, v in ds.attrs.items() if k.startswith(PARAMETER_PREFIX)}


def class_label(ds: xr.Dataset, k: int) -> str:
    """The name of class `k` in a result (its `class_names` attribute), else the number; '-' for
    `k` < 0 (no class: the logits were not finite)."""
    names = ds.attrs.get("class_names")
    if k < 0:
        return "-"
    return str(names[k]) if names is not None and k < len(names) else str(k)


def provenance(probe: str, options: dict[str, Any], *, model_identity: dict[str, Any] | None = None,
               data_identity: dict[str, Any] | None = None, seed: int | None = None, samples: int | None = None,
               device: str | torch.device | None = None) -> dict[str, Any]:
    """The attributes every result carries; `elapsed_seconds` and
    `complete` are added when the run ends."""
    attrs: dict[str, Any] = {"probe": probe, "probe_version": __version__}
    attrs.update({PARAMETER_PREFIX + name: plain(value) for name, value in options.items()})
    attrs.update(model_identity or {"model": "none", "model_sha256": "none"})
    attrs.update(data_identity or {"data": "none", "split": "none"})
    attrs.update({"seed": int(seed)} if seed is not None else {})
    attrs.update({"samples": int(samples)} if samples is not None else {})
    attrs.update({
        "device": str(device) if device is not None else "cpu",
        "torch_version": str(torch.__version__),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    })
    return attrs


# ----------------------------------------------------------------------------- attribute encoding

def _same_type_list(values: list, kind: type) -> bool:
    return bool(values) and all(type(v) is kind for v in values)


def _encode_value(value: Any) -> tuple[Any, str | None]:
    """(netCDF-native value, type tag or None when it loads back as it is)."""
    value = plain(value)
    if isinstance(value, bool):
        return np.int8(value), "bool"
    if value is None:
        return "none", "none"
    if isinstance(value, (int, float)):
        return value, None
    if isinstance(value, str):
        return str(value), None
    if isinstance(value, list):
        if _same_type_list(value, int):
            return np.asarray(value, dtype=np.int64), "list"
        if _same_type_list(value, float):
            return np.asarray(value, dtype=np.float64), "list"
        if _same_type_list(value, str):
            return list(value), "list"
    return json.dumps(value), "json"


def _decode_value(value: Any, tag: str | None) -> Any:
    if tag == "bool":
        return bool(value)
    if tag == "none":
        return None
    if tag == "json":
        return json.loads(value)
    if tag == "list":
        return [v.item() if isinstance(v, np.generic) else v for v in np.atleast_1d(np.asarray(value, dtype=object))]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _encode_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    encoded, tags = {}, {}
    for key, value in attrs.items():
        encoded[key], tag = _encode_value(value)
        if tag is not None:
            tags[key] = tag
    if tags:
        encoded[TYPES_ATTRIBUTE] = json.dumps(tags)
    return encoded


def _decode_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    tags = json.loads(attrs.get(TYPES_ATTRIBUTE, "{}"))
    return {k: _decode_value(v, tags.get(k)) for k, v in attrs.items() if k != TYPES_ATTRIBUTE}


def _encode(ds: xr.Dataset) -> xr.Dataset:
    out = ds.copy()
    out.attrs = _encode_attrs(ds.attrs)
    for name in out.variables:
        out[name].attrs = _encode_attrs(ds[name].attrs)
    return out


# ----------------------------------------------------------------------------- files

def temporary_path(path: Path) -> Path:
    """The temporary name a file is written under before its atomic rename (per process)."""
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def remove_stale_temporaries(path: str | os.PathLike) -> None:
    """Delete temporary files that a killed process left beside `path`."""
    path = Path(path)
    if path.parent.is_dir():
        for stale in path.parent.glob(f".{path.name}.tmp*"):
            stale.unlink(missing_ok=True)


def write_atomically(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """`write(temporary)` into a temporary file beside `path`, then rename it to `path`: a reader
    (or a resumed run after a crash) sees the old file or the new one, never a partial one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def save(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write `ds` to netCDF (h5netcdf) atomically: a temporary file, then a rename."""
    return write_atomically(path, lambda tmp: _encode(ds).to_netcdf(tmp, engine="h5netcdf"))


def load(path: str | os.PathLike) -> xr.Dataset:
    """Read a result written by `save`, fully into memory, attributes decoded."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such result file: {path}")
    try:
        ds = xr.load_dataset(path, engine="h5netcdf")
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable netCDF result ({exc})") from None
    ds.attrs = _decode_attrs(ds.attrs)
    for name in ds.variables:
        ds[name].attrs = _decode_attrs(ds[name].attrs)
    return ds
