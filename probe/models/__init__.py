"""Models: the architecture registry, input normalisation, and checkpoints."""
from probe.models.checkpoint import build, load, model_identity, model_name, save, weights_sha256
from probe.models.normalize import Normalized
from probe.models.zoo import ARCHITECTURES, register

__all__ = ["ARCHITECTURES", "Normalized", "build", "load", "model_identity", "model_name", "register", "save", "weights_sha256"]
