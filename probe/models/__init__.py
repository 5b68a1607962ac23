"""Models: the architecture registry (classifiers and corruption networks), input normalisation, and checkpoints."""
from probe.models import corruption_nets  # noqa: F401  (registers the corruption networks)
from probe.models.checkpoint import build, load, model_identity, model_name, save, weights_sha256
from probe.models.normalize import Normalized
from probe.models.zoo import ARCHITECTURES, IMAGE_TO_IMAGE, register

__all__ = ["ARCHITECTURES", "IMAGE_TO_IMAGE", "Normalized", "build", "load", "model_identity", "model_name",
           "register", "save", "weights_sha256"]
