import pytest

from shendu._registry import Registry
from shendu.errors import RegistryError, UnknownNameError


def test_register_get_and_meta():
    reg = Registry("widget")

    @reg.register("big_widget", family="w")
    def build():
        return 1

    assert reg.get("big_widget") is build
    assert reg.meta("big_widget") == {"family": "w"}
    assert "big_widget" in reg and len(reg) == 1 and list(reg) == ["big_widget"]


def test_duplicate_name_is_an_error():
    reg = Registry("widget")
    reg.add("a", 1)
    with pytest.raises(RegistryError, match="widget 'a' is already registered"):
        reg.add("a", 2)


def test_names_must_be_lowercase_snake():
    with pytest.raises(RegistryError, match="not lowercase_snake"):
        Registry("widget").add("ResNet", 1)


def test_unknown_name_suggests_nearest():
    reg = Registry("model")
    for name in ("resnet18", "resnet50", "lenet5"):
        reg.add(name, name)
    with pytest.raises(UnknownNameError) as info:
        reg.get("resnet5")
    message = str(info.value)
    assert "unknown model 'resnet5'" in message
    assert "did you mean 'resnet50'" in message
    assert "valid: lenet5, resnet18, resnet50" in message
    assert isinstance(info.value, KeyError)  # still catchable the Python way
