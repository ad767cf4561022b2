"""Where torchvision has the architecture, our state dict has the same keys and shapes at 224 px / 1000
classes, so torchvision's weights load into ours unchanged (outputs are compared in each family's tests)."""
import pytest
import torch

from shendu.models import create_model

torchvision = pytest.importorskip("torchvision")

NAMES = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "densenet121", "densenet169",
         "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_matches_torchvision_key_by_key(name):
    with torch.device("meta"):  # shapes only
        reference = getattr(torchvision.models, name)(weights=None).state_dict()
        ours = create_model(name, num_classes=1000, in_channels=3, input_size=224).state_dict()
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in reference.items()}
