"""Attacks: tensor in, tensor out, batched over samples.

Modules: `deepfool` (L2 DeepFool, optionally in a subspace and a box), `sparsefool`,
`linear_solver` (SparseFool's L1 step) and `pgd`.  Import the functions from their modules
(`from probe.attacks.deepfool import deepfool`); this package does not re-export them, so
that `probe.attacks.deepfool` is always the module.
"""
