"""Mean corruption error (mCE): the CIFAR, ImageNet (AlexNet-normalised) and relative forms.

Errors and accuracies are in percent.  CIFAR papers report the unnormalised form,
`100 − mean accuracy` over the (corruption, severity) cells.  ImageNet-C normalises each
corruption by a reference model: `CE_c = Σ_s E_{s,c}(f) / Σ_s E_{s,c}(ref)`, mCE is the
mean of CE_c; the relative form subtracts each model's clean error first.  The reference
is AlexNet by default (`ALEXNET_ERRORS`, mean error over the five severities).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from probe.errors import ParameterError

# AlexNet on ImageNet-C: mean top-1 error over the five severities (fraction), and clean error.
ALEXNET_ERRORS: dict[str, float] = {
    "gaussian_noise": 0.886428, "shot_noise": 0.894468, "impulse_noise": 0.922640,
    "defocus_blur": 0.819880, "glass_blur": 0.826268, "motion_blur": 0.785948, "zoom_blur": 0.798360,
    "snow": 0.866816, "frost": 0.826572, "fog": 0.819324, "brightness": 0.564592,
    "contrast": 0.853204, "elastic_transform": 0.646056, "pixelate": 0.717840, "jpeg_compression": 0.606500,
}
ALEXNET_CLEAN_ERROR = 0.4345


def cifar_mce(accuracy: np.ndarray) -> float:
    """`100 − mean accuracy` (%) over all cells of `accuracy` (any shape, in %)."""
    accuracy = np.asarray(accuracy, dtype=np.float64)
    if accuracy.size == 0:
        raise ParameterError("mCE needs at least one (corruption, severity) cell")
    return float(100.0 - accuracy.mean())


def corruption_errors(errors: Mapping[str, np.ndarray],
                      reference: Mapping[str, np.ndarray | float]) -> dict[str, float]:
    """Per-corruption CE (%): `100 · Σ_s E_s(f) / Σ_s E_s(ref)`.

    `errors[c]` holds the model's errors over severities; `reference[c]` holds the reference
    errors over the same severities, or one number, the reference's mean error over them.
    """
    ce = {}
    for name, values in errors.items():
        values = np.asarray(values, dtype=np.float64)
        ref = np.broadcast_to(np.asarray(reference[name], dtype=np.float64), values.shape)
        ce[name] = float(100.0 * values.sum() / ref.sum())
    return ce


def relative_corruption_errors(errors: Mapping[str, np.ndarray], clean_error: float,
                               reference: Mapping[str, np.ndarray | float],
                               reference_clean_error: float) -> dict[str, float]:
    """Per-corruption relative CE (%): `100 · Σ_s (E_s(f) − E_clean(f)) / Σ_s (E_s(ref) − E_clean(ref))`."""
    ce = {}
    for name, values in errors.items():
        values = np.asarray(values, dtype=np.float64)
        ref = np.broadcast_to(np.asarray(reference[name], dtype=np.float64), values.shape)
        denominator = (ref - reference_clean_error).sum()
        ce[name] = float(100.0 * (values - clean_error).sum() / denominator) if denominator > 0 else float("inf")
    return ce


def mean_ce(ce: Mapping[str, float]) -> float:
    """The mean of per-corruption CE values (%)."""
    if not ce:
        raise ParameterError("mCE needs at least one corruption shared with the reference")
    return float(np.mean(list(ce.values())))


def alexnet_reference() -> tuple[dict[str, float], float]:
    """The built-in AlexNet reference in percent: mean error per corruption, and clean error."""
    return {k: 100.0 * v for k, v in ALEXNET_ERRORS.items()}, 100.0 * ALEXNET_CLEAN_ERROR
