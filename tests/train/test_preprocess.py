"""Preprocessing: per-channel mean/std measured from a histogram equal the float64 definition."""
import torch

from shendu.train._preprocess import Preprocessing


def test_fit_matches_float64_reference_and_standardizes():
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (500, 3, 7, 5), generator=generator, dtype=torch.uint8)
    x[:, 1] //= 4  # channels with different statistics
    prep = Preprocessing.fit(x)
    reference = x.double() / 255.0
    torch.testing.assert_close(torch.tensor(prep.mean, dtype=torch.float64), reference.mean(dim=(0, 2, 3)), atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(torch.tensor(prep.std, dtype=torch.float64), reference.std(dim=(0, 2, 3), unbiased=False),
                               atol=1e-12, rtol=1e-10)
    out = prep(x)
    assert out.dtype == torch.float32 and prep.input_shape == (3, 7, 5)
    torch.testing.assert_close(out.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.std(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-5, rtol=0)


def test_round_trip_through_the_package_dict():
    prep = Preprocessing.fit(torch.randint(0, 256, (10, 1, 4, 4), dtype=torch.uint8))
    assert Preprocessing.from_dict(prep.to_dict()) == prep
