"""Attacks: tensor in, tensor out, batched over samples (DeepFool, SparseFool, PGD)."""
from probe.attacks.deepfool import DeepFoolResult, deepfool
from probe.attacks.pgd import pgd
from probe.attacks.sparsefool import SparseFoolResult, sparsefool

__all__ = ["DeepFoolResult", "SparseFoolResult", "deepfool", "pgd", "sparsefool"]
