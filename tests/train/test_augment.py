"""Per-batch augmentation on tensors: random crop with padding, flip, rotation, colour jitter.

Each keeps shapes, dtype and labels, changes pixels, draws its parameters per sample, matches an
independent reference (manual crop of the padded image, `Tensor.flip`, `torch.rot90`) and is used only
for training batches.
"""
import pytest
import torch
from torch import nn

from shendu.config import AugmentConfig, ExperimentConfig
from shendu.data import load_dataset
from shendu.hub import load_package
from shendu.train import _augment, train
from shendu.train._augment import BatchAugment, color_jitter, random_crop, random_flip, random_rotation
from shendu.train._loop import Loop
from shendu.train._optim import build_optimizer
from shendu.train._preprocess import Preprocessing
from shendu.train._speed import Precision

ALL_ON = {"crop_padding": 2, "flip": True, "rotation": 15.0, "color_jitter": 0.4}
RGB = Preprocessing((0.49, 0.48, 0.45), (0.25, 0.24, 0.26), (3, 12, 12))


def _images(b: int = 64, c: int = 3, h: int = 12, w: int = 12, seed: int = 0) -> torch.Tensor:
    """Random images: every window, mirror and rotation of one is distinguishable from the others."""
    return torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed))


def _standardized(b: int = 64) -> torch.Tensor:
    mean, std = torch.tensor(RGB.mean).view(1, 3, 1, 1), torch.tensor(RGB.std).view(1, 3, 1, 1)
    return (_images(b) - mean) / std


AUGMENTS = {
    "crop": lambda x: random_crop(x, 2),
    "flip": random_flip,
    "rotation": lambda x: random_rotation(x, 30.0),
    "jitter": lambda x: color_jitter(x, 0.5),
    "batch": BatchAugment(AugmentConfig(**ALL_ON), RGB),
}


@pytest.mark.parametrize("name", list(AUGMENTS))
def test_augmentation_keeps_shape_and_dtype_and_changes_pixels(name):
    torch.manual_seed(0)
    x = _standardized() if name == "batch" else _images()
    out = AUGMENTS[name](x)
    assert out.shape == x.shape and out.dtype == x.dtype
    changed = (out - x).flatten(1).abs().amax(dim=1) > 1e-4  # (B,) which samples changed
    assert changed.float().mean() >= (0.3 if name == "flip" else 0.9)


def test_batch_augment_is_inactive_when_nothing_is_configured():
    assert not BatchAugment(AugmentConfig(), RGB).active
    assert all(BatchAugment(AugmentConfig(**{k: v}), RGB).active for k, v in ALL_ON.items())


# -- random crop ------------------------------------------------------------------------------------

def _crop_offsets(x: torch.Tensor, out: torch.Tensor, padding: int) -> list[tuple[int, int]]:
    """For each sample, the one window of the zero-padded input the output equals (fails if none)."""
    padded = nn.functional.pad(x, (padding,) * 4)
    h, w = x.shape[2:]
    offsets = []
    for i in range(x.shape[0]):
        matches = [(dy, dx) for dy in range(2 * padding + 1) for dx in range(2 * padding + 1)
                   if torch.equal(out[i], padded[i, :, dy:dy + h, dx:dx + w])]
        assert len(matches) == 1, f"sample {i}: output is not one window of the padded image ({matches})"
        offsets.append(matches[0])
    return offsets


def test_random_crop_is_a_window_of_the_zero_padded_image_at_a_per_sample_offset():
    padding = 3
    torch.manual_seed(0)
    x = _images(64, c=1, h=8, w=8)
    offsets = _crop_offsets(x, random_crop(x, padding), padding)
    assert len(set(offsets)) >= 10  # 49 possible offsets, 64 samples: far from one shared crop
    assert {dy for dy, _ in offsets} == set(range(2 * padding + 1))  # the whole range is drawn
    assert {dx for _, dx in offsets} == set(range(2 * padding + 1))


def test_random_crop_offsets_are_the_ones_drawn_from_the_seed():
    padding, x = 2, _images(16)
    torch.manual_seed(7)
    out = random_crop(x, padding)
    torch.manual_seed(7)
    dy, dx = torch.randint(0, 2 * padding + 1, (16,)), torch.randint(0, 2 * padding + 1, (16,))
    padded = nn.functional.pad(x, (padding,) * 4)
    manual = torch.stack([padded[i, :, dy[i]:dy[i] + 12, dx[i]:dx[i] + 12] for i in range(16)])
    assert torch.equal(out, manual)


# -- flip -------------------------------------------------------------------------------------------

def test_random_flip_mirrors_some_samples_exactly_and_leaves_the_others_alone():
    torch.manual_seed(0)
    x = _images()
    out = random_flip(x)
    mirrored = [torch.equal(out[i], x[i].flip(-1)) for i in range(64)]
    kept = [torch.equal(out[i], x[i]) for i in range(64)]
    assert all(m != k for m, k in zip(mirrored, kept))  # each sample is exactly one of the two
    assert 16 <= sum(mirrored) <= 48  # about half, drawn per sample


# -- rotation ---------------------------------------------------------------------------------------

def test_rotation_with_a_zero_range_is_the_identity():
    x = _images()
    torch.testing.assert_close(random_rotation(x, 0.0), x, atol=1e-5, rtol=0)


def _fixed_angles(monkeypatch, degrees: float) -> None:
    monkeypatch.setattr(_augment, "_uniform", lambda n, low, high, device: torch.full((n,), degrees))


@pytest.mark.parametrize("degrees, k", [(90.0, 1), (-90.0, -1), (180.0, 2)])
def test_rotation_by_right_angles_equals_rot90(monkeypatch, degrees, k):
    _fixed_angles(monkeypatch, degrees)
    x = _images()
    torch.testing.assert_close(random_rotation(x, abs(degrees)), torch.rot90(x, k, dims=(2, 3)), atol=1e-5, rtol=0)


def test_rotation_of_a_non_square_image_keeps_shapes_undistorted(monkeypatch):
    """An 8×8 square in the middle of a 16×32 image is still an 8×8 square after a quarter turn."""
    _fixed_angles(monkeypatch, 90.0)
    image = torch.zeros(1, 1, 16, 32)
    image[..., 4:12, 12:20] = 1.0
    out = random_rotation(image, 90.0)[0, 0] > 0.5
    rows, cols = out.any(dim=1).nonzero().flatten(), out.any(dim=0).nonzero().flatten()
    assert (rows.min().item(), rows.max().item(), cols.min().item(), cols.max().item()) == (4, 11, 12, 19)
    assert out.sum().item() == 64


def test_rotation_draws_a_different_angle_per_sample():
    torch.manual_seed(0)
    x = _images(1).expand(8, -1, -1, -1).clone()  # eight copies of one image
    out = random_rotation(x, 45.0)
    assert len({tuple(o.flatten()[:50].tolist()) for o in out}) == 8


# -- colour jitter ----------------------------------------------------------------------------------

@pytest.mark.parametrize("channels", [1, 3])
def test_color_jitter_keeps_pixels_in_0_1_and_varies_per_sample(channels):
    torch.manual_seed(0)
    x = _images(c=channels)
    out = color_jitter(x, 1.0)
    assert out.min() >= 0.0 and out.max() <= 1.0
    means = out.mean(dim=(1, 2, 3))
    assert means.std() > 0.05  # brightness / contrast differ from sample to sample


def test_color_jitter_with_zero_strength_is_the_identity():
    x = _images()
    torch.testing.assert_close(color_jitter(x, 0.0), x, atol=1e-6, rtol=0)


def test_color_jitter_brightness_and_contrast_match_their_definitions(monkeypatch):
    """Brightness b scales pixels; contrast c moves them away from the image's grey mean by c."""
    factors = iter([torch.tensor([1.2, 0.7]), torch.tensor([1.0, 1.5])])  # brightness, contrast
    monkeypatch.setattr(_augment, "_uniform", lambda n, low, high, device: next(factors))
    x = 0.2 + 0.5 * _images(2, c=1)  # grey, well inside [0, 1]
    out = color_jitter(x, 0.5)
    torch.testing.assert_close(out[0], (1.2 * x[0]).clamp(0, 1), atol=1e-6, rtol=0)
    bright = 0.7 * x[1]
    torch.testing.assert_close(out[1], ((bright - bright.mean()) * 1.5 + bright.mean()).clamp(0, 1), atol=1e-6,
                               rtol=0)


def test_batch_augment_jitters_in_pixel_space():
    torch.manual_seed(0)
    out = BatchAugment(AugmentConfig(color_jitter=1.0), RGB)(_standardized())
    mean, std = torch.tensor(RGB.mean).view(1, 3, 1, 1), torch.tensor(RGB.std).view(1, 3, 1, 1)
    pixels = out * std + mean
    assert pixels.min() >= -1e-5 and pixels.max() <= 1 + 1e-5


# -- in the trainer -----------------------------------------------------------------------------------

class _Recorder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear, self.seen = nn.Linear(3 * 12 * 12, 10), None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen = x.detach().clone()
        return self.linear(x.flatten(1))


def test_a_training_step_augments_the_inputs_and_keeps_the_labels(monkeypatch):
    config = ExperimentConfig.from_dict({"augment": ALL_ON})
    model = _Recorder()
    loop = Loop(config, model, model, build_optimizer(model, config.optim), None, Precision("fp32", None, False),
                BatchAugment(config.augment, RGB), num_classes=10)
    targets = []
    real_loss = loop.loss
    monkeypatch.setattr(loop, "loss", lambda output, target: targets.append(target) or real_loss(output, target))
    x, y = _standardized(), torch.arange(64) % 10
    loop.step(x, y.clone(), check=True)
    assert model.seen.shape == x.shape and not torch.allclose(model.seen, x, atol=1e-3)
    assert torch.equal(targets[0], y)


def test_augmentation_touches_training_batches_only(monkeypatch):
    seen = []
    real_call = BatchAugment.__call__

    def spy(self, x):
        seen.append(x.shape[0])
        return real_call(self, x)

    monkeypatch.setattr(BatchAugment, "__call__", spy)
    config = {"data": {"name": "digits"}, "model": {"name": "lenet5", "args": {"activation": "relu"}},
              "optim": {"name": "adam", "lr": 0.003}, "augment": ALL_ON,
              "train": {"epochs": 1, "batch_size": 128, "seed": 0, "checkpoint": False}}
    result = train(config, progress=False)
    assert sum(seen) == len(load_dataset("digits", "train"))  # every training sample once, nothing else
    test = load_dataset("digits", "test")
    clean = load_package(result.package).evaluate(test.x, test.y)  # no augmentation in the package path
    assert result.metrics["test_accuracy"] == clean["test_accuracy"]
    assert result.metrics["test_loss"] == pytest.approx(clean["test_loss"], rel=1e-6)
