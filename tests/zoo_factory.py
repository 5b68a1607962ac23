"""A model factory as `--factory zoo_factory:lenet` imports it (tests/test_inputs.py): a LeNet
without input normalisation, like the classifiers of torchvision, timm or RobustBench."""
from torch import nn

from probe.models import zoo


def lenet() -> nn.Module:
    return zoo.lenet(in_channels=1, num_classes=10, image_size=(28, 28))
