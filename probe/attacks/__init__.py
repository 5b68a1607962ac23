"""Attacks: tensor in, tensor out, batched over samples (DeepFool, PGD)."""
from probe.attacks.deepfool import DeepFoolResult, deepfool

__all__ = ["DeepFoolResult", "deepfool"]
