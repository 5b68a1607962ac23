"""Rebuild the embedded Fashion-MNIST sample shipped in `probe/data/embedded/`.

Takes a seeded, class-balanced subset of the Debian package `dataset-fashion-mnist`
(`/usr/share/datasets/fashion-mnist/`) and writes it in the original IDX format (gzipped),
plus the original indices, so the sample is real data read by the same IDX reader as the
full set.  Run: `python -m analyses.make_embedded_sample`.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from probe.data.formats import read_idx, write_idx

PER_CLASS = {"train": 500, "t10k": 150}
SOURCE = Path("/usr/share/datasets/fashion-mnist")
TARGET = Path(__file__).resolve().parent.parent / "probe" / "data" / "embedded" / "fashion-mnist-sample"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    TARGET.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    for prefix, per_class in PER_CLASS.items():
        images = read_idx(args.source / f"{prefix}-images-idx3-ubyte.gz")
        labels = read_idx(args.source / f"{prefix}-labels-idx1-ubyte.gz")
        chosen = np.sort(np.concatenate([
            rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in range(10)
        ]))
        write_idx(TARGET / f"{prefix}-images-idx3-ubyte.gz", images[chosen])
        write_idx(TARGET / f"{prefix}-labels-idx1-ubyte.gz", labels[chosen])
        np.savetxt(TARGET / f"{prefix}-source-indices.txt", chosen, fmt="%d")
        print(f"{prefix}: {len(chosen)} images")


if __name__ == "__main__":
    main()
