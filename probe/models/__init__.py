"""Models: the architecture registry (classifiers and corruption networks), input normalisation, and checkpoints."""
from probe.models import corruption_nets  # noqa: F401  (registers the corruption networks)
from probe.models.checkpoint import build, load, model_identity, model_name, save, weights_sha256
from probe.models.normalize import PRESETS, Normalized, normalization_of, normalized, parse_normalization
from probe.models.outputs import Classifier, classifier
from probe.models.zoo import ARCHITECTURES, IMAGE_TO_IMAGE, register

__all__ = ["ARCHITECTURES", "Classifier", "IMAGE_TO_IMAGE", "Normalized", "PRESETS", "build", "classifier", "load",
           "model_identity", "model_name", "normalization_of", "normalized", "parse_normalization", "register", "save",
           "weights_sha256"]
