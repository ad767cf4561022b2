"""The pictures (shendu.viz.pictures and `shendu viz`): each writes a real, non-blank image, and the data
it draws agrees with an independent reference — the run store, the package's recorded accuracy, a
fresh model's weights, torch autograd, numpy's SVD, receptive-field arithmetic."""
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional as F
from torch.testing import assert_close

from shendu.data import load_dataset
from shendu.hub import load_package
from shendu.models import create_model
from shendu.track import open_store
from shendu.train import train
from shendu.viz import pictures
from shendu.viz.inspect import _cell_centers, _upsample_at, grad_cam_layer

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
DIGITS = {"data": {"name": "digits"}, "model": {"name": "lenet5", "args": {"activation": "tanh", "pool": "avg"}},
          "optim": {"name": "adam", "lr": 0.003}, "train": {"epochs": 4, "batch_size": 32, "seed": 0}}
# ReLU/max-pool LeNet: one epoch reaches ~98% on MNIST (the paper's tanh/avg needs more to localize well).
MNIST = {"data": {"name": "mnist"}, "model": {"name": "lenet5", "args": {"activation": "relu", "pool": "max"}},
         "optim": {"name": "adam", "lr": 0.002}, "train": {"epochs": 1, "batch_size": 64, "seed": 0}}


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """LeNet-5 trained 4 epochs on the 8×8 digits, in a run store of its own."""
    home = tmp_path_factory.mktemp("viz_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHENDU_HOME", str(home))
        mp.delenv("SHENDU_DB", raising=False)
        result = train(DIGITS, progress=False)
    return SimpleNamespace(run_id=result.run_id, package=result.package, db=f"sqlite:///{home / 'shendu.db'}",
                           home=home, predictor=load_package(result.package), test=load_dataset("digits", "test"))


def assert_png(path, min_bytes=5_000) -> np.ndarray:
    """The file is a decodable PNG of real size whose pixels are not one flat colour."""
    path = Path(path)
    assert path.is_file() and path.stat().st_size > min_bytes, f"{path} missing or only a few bytes"
    with Image.open(path) as image:
        assert image.format == "PNG"
        pixels = np.asarray(image.convert("L"), dtype=np.float64)
    assert min(pixels.shape) >= 150
    assert pixels.std() > 5 and len(np.unique(pixels)) > 30, f"{path} looks blank"
    return pixels


def last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


# -- curves ------------------------------------------------------------------------------------------
def test_curves_data_equal_the_run_store_metric_history(digits_run, tmp_path):
    picture = pictures.plot_curves(digits_run.run_id, tmp_path / "curves.png", store=digits_run.db)
    assert_png(tmp_path / "curves.png")
    (run,) = picture["runs"]
    store = open_store(digits_run.db)
    for name in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        rows = store.metric_history(digits_run.run_id, name)
        assert run["metrics"][name] == {"epoch": [r["epoch"] for r in rows], "value": [r["value"] for r in rows]}
        assert run["metrics"][name]["epoch"] == [1, 2, 3, 4]
    assert picture["files"] == [str(tmp_path / "curves.png")]
    json.dumps(picture)  # the data is JSON as it is


def test_curves_of_several_runs_show_the_logged_values(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'runs.db'}")
    logged = {}
    for k in range(2):
        run = store.create_run(config={}, seed=k, model="lenet5", dataset="digits", name=f"run{k}")
        logged[run] = [(e, 1.0 / (e + k), 0.5 + 0.1 * e) for e in (1, 2, 3)]
        for epoch, loss, acc in logged[run]:
            store.log_metrics(run, {"train_loss": loss, "val_accuracy": acc}, epoch=epoch)
    picture = pictures.plot_curves(list(logged), tmp_path / "curves.svg", store=store)
    for entry, (run, rows) in zip(picture["runs"], logged.items()):
        assert entry["run_id"] == run
        assert entry["metrics"]["train_loss"] == {"epoch": [1, 2, 3], "value": [r[1] for r in rows]}
        assert entry["metrics"]["val_accuracy"]["value"] == [r[2] for r in rows]
    root = ET.parse(tmp_path / "curves.svg").getroot()
    assert root.tag.endswith("svg") and len(list(root.iter())) > 100  # a drawing, not an empty canvas


# -- confusion ---------------------------------------------------------------------------------------
def test_confusion_matrix_counts_the_test_set_and_matches_the_package_accuracy(digits_run, tmp_path):
    picture = pictures.plot_confusion(digits_run.package, path=tmp_path / "confusion.png")
    assert_png(tmp_path / "confusion.png", min_bytes=20_000)
    matrix = np.asarray(picture["matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == picture["count"] == len(digits_run.test) == 180
    recorded = json.loads((Path(digits_run.package) / "shendu.json").read_text())["metrics"]["test_accuracy"]["final"]
    assert np.trace(matrix) / matrix.sum() == pytest.approx(recorded, abs=1e-12)
    assert np.array_equal(matrix.sum(axis=1), np.bincount(digits_run.test.y.numpy(), minlength=10))
    for k, row in enumerate(picture["per_class"]):  # against the matrix, by hand
        assert row["recall"] == pytest.approx(matrix[k, k] / matrix[k].sum())
        assert row["precision"] == pytest.approx(matrix[k, k] / max(matrix[:, k].sum(), 1))


# -- filters -----------------------------------------------------------------------------------------
def test_filters_after_training_differ_from_the_seeded_initialization(digits_run, tmp_path):
    torch.manual_seed(DIGITS["train"]["seed"])  # what the trainer does before building the model
    fresh = create_model("lenet5", num_classes=10, in_channels=1, input_size=8, **DIGITS["model"]["args"])
    initial = pictures.plot_filters(fresh)
    assert_close(torch.tensor(initial["weights"]), fresh.features[0].weight.detach(), atol=1e-5, rtol=0)
    trained = pictures.plot_filters(digits_run.package, tmp_path / "filters.png")
    assert_png(tmp_path / "filters.png")
    assert trained["layer"] == "features.0" and trained["shape"] == [6, 1, 3, 3]
    change = torch.tensor(trained["weights"]) - torch.tensor(initial["weights"])
    assert change.norm() > 0.1 * torch.tensor(initial["weights"]).norm()  # learned, not a reload of the init
    assert all(change[i].abs().max() > 1e-3 for i in range(6))  # every filter moved


# -- feature maps ------------------------------------------------------------------------------------
def test_feature_maps_of_every_conv_layer(digits_run, tmp_path):
    image = digits_run.test.x[0]
    picture = pictures.plot_feature_maps(digits_run.package, image, tmp_path / "maps")
    assert [entry["layer"] for entry in picture["layers"]] == ["features.0", "features.3"]
    assert [entry["shape"] for entry in picture["layers"]] == [[6, 8, 8], [16, 4, 4]]
    assert len(picture["files"]) == 2
    for file in picture["files"]:
        assert_png(file)
    predictor = digits_run.predictor  # reference: the first conv applied by hand
    expected = predictor.model.features[0](predictor.preprocessing(image[None]))[0]
    assert_close(torch.tensor(picture["layers"][0]["maps"]), expected.detach(), atol=1e-3, rtol=0)


# -- saliency and Grad-CAM ---------------------------------------------------------------------------
def test_saliency_is_the_input_gradient_and_gradcam_follows_its_definition(digits_run, tmp_path):
    predictor, x = digits_run.predictor, digits_run.test.x[:6]
    targets = predictor.predict(x).indices
    saliency = pictures.saliency_maps(predictor, x)
    inputs = predictor.preprocessing(x).requires_grad_(True)  # reference: autograd by hand
    predictor.model(inputs).gather(1, torch.as_tensor(targets)[:, None]).sum().backward()
    assert_close(torch.from_numpy(saliency), inputs.grad.abs().amax(dim=1), atol=1e-6, rtol=1e-5)

    layer, conv = grad_cam_layer(predictor.model, inputs[:1].detach())
    assert (layer, conv) == ("features.4", "features.3")  # the tanh after the last conv
    cam, used = pictures.grad_cam_maps(predictor, x, align=False)
    captured = {}
    hook = predictor.model.features[4].register_forward_hook(lambda _m, _a, out: captured.update(a=out))
    logits = predictor.model(predictor.preprocessing(x))
    (grads,) = torch.autograd.grad(logits.gather(1, torch.as_tensor(targets)[:, None]).sum(), captured["a"])
    hook.remove()
    weights = grads.mean(dim=(2, 3), keepdim=True)  # Selvaraju et al. 2017, eq. 1–2
    reference = F.relu((weights * captured["a"]).sum(dim=1, keepdim=True))
    reference = F.interpolate(reference, size=(8, 8), mode="bilinear", align_corners=False)[:, 0]
    assert used == "features.4" and cam.shape == (6, 8, 8)
    assert_close(torch.from_numpy(cam), reference.detach(), atol=1e-5, rtol=1e-4)

    picture = pictures.plot_gradcam(predictor, x[0], tmp_path / "gradcam.png", label=int(digits_run.test.y[0]))
    assert_png(tmp_path / "gradcam.png")
    assert np.asarray(picture["gradcam"]).shape == (8, 8) and np.max(picture["gradcam"]) == pytest.approx(1.0)
    assert picture["predicted"] == predictor.classes[targets[0]]


def test_receptive_field_centres_match_the_arithmetic_of_lenets_layers():
    # MNIST LeNet: conv 5×5 pad 2 → avg pool 2 → conv 5×5, so output cell i is centred on input pixel 2i + 4.5.
    # With uniform weights on a uniform image every gradient profile is symmetric, so the measured
    # centroid must be exactly that — for cells 2..7, whose receptive fields never reach the zero padding.
    model = create_model("lenet5", num_classes=10, in_channels=1, input_size=28).eval()
    with torch.no_grad():
        for conv in (model.features[0], model.features[3]):
            conv.weight.fill_(0.05)
            conv.bias.zero_()
    rows, cols = _cell_centers(model, model.features[4], torch.ones(1, 1, 28, 28))
    expected = 4.5 + 2 * np.arange(10)
    assert_close(torch.from_numpy(rows[2:8]), torch.from_numpy(expected[2:8]), atol=1e-3, rtol=0)
    assert_close(torch.from_numpy(cols), torch.from_numpy(rows))
    assert np.abs(rows - expected).max() < 1.5  # the border cells' fields are cut by the padding
    cam = torch.from_numpy(np.random.default_rng(0).random((1, 10, 10)))
    centres = 4.0 + 2 * np.arange(10)  # cell i at pixel 4 + 2i: pixel 5 + 2i is halfway between two cells
    up = torch.from_numpy(_upsample_at(cam.numpy(), centres, centres, (28, 28)))
    assert_close(up[0, 4:23:2, 4:23:2], cam[0])
    assert_close(up[0, 5:22:2, 5:22:2], (cam[0, 1:, 1:] + cam[0, :-1, :-1] + cam[0, 1:, :-1] + cam[0, :-1, 1:]) / 4)
    assert_close(up[0, :4, :4], cam[0, :1, :1].expand(4, 4))  # beyond the outermost centre: the border cell


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory):
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the dataset mirror at {SHARED_DATA} (absent here)")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHENDU_HOME", str(tmp_path_factory.mktemp("viz_mnist")))
        mp.setenv("SHENDU_DATA_MIRROR", str(SHARED_DATA))
        result = train(MNIST, progress=False)
        return SimpleNamespace(package=result.package, test=load_dataset("mnist", "test"))


@pytest.mark.slow
def test_gradcam_peaks_inside_the_digit_on_most_mnist_test_digits(mnist_run, tmp_path):
    x = mnist_run.test.x[:50]
    cam, layer = pictures.grad_cam_maps(mnist_run.package, x)
    assert layer == "features.4" and cam.shape == (50, 28, 28)
    inside = 0
    for image, heat in zip(x[:, 0].numpy(), cam):
        rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
        row, col = np.unravel_index(heat.argmax(), heat.shape)
        inside += rows[0] - 2 <= row <= rows[-1] + 2 and cols[0] - 2 <= col <= cols[-1] + 2  # bbox dilated 2 px
    assert inside >= 35, f"Grad-CAM peaked inside the digit's box on {inside} of 50 digits"
    pictures.plot_gradcam(mnist_run.package, x[0], tmp_path / "gradcam.png", label=int(mnist_run.test.y[0]))
    assert_png(tmp_path / "gradcam.png", min_bytes=20_000)


@pytest.mark.slow
def test_every_picture_of_an_mnist_run(mnist_run, tmp_path):
    package = mnist_run.package
    confusion = pictures.plot_confusion(package, path=tmp_path / "confusion.png")
    assert confusion["count"] == 10_000 and confusion["accuracy"] > 0.95
    filters = pictures.plot_filters(package, tmp_path / "filters.png")
    assert filters["shape"] == [6, 1, 5, 5]
    maps = pictures.plot_feature_maps(package, mnist_run.test.x[0], tmp_path / "maps")
    embedding = pictures.plot_embedding(package, path=tmp_path / "embedding.png", limit=500)
    wrong = pictures.plot_misclassified(package, path=tmp_path / "misclassified.png")
    assert wrong["wrong"] == round((1 - confusion["accuracy"]) * 10_000)
    for file in ["confusion.png", "filters.png", "embedding.png", "misclassified.png"] + maps["files"]:
        assert_png(tmp_path / file)
    assert len(embedding["points"]) == 500


# -- embedding and mistakes --------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_embedding_is_n_by_2_of_the_penultimate_features(digits_run, tmp_path, method):
    picture = pictures.plot_embedding(digits_run.package, path=tmp_path / f"{method}.png", method=method, limit=120)
    assert_png(tmp_path / f"{method}.png")
    points = np.asarray(picture["points"])
    assert points.shape == (120, 2) and len(picture["labels"]) == 120
    assert picture["layer"] == "classifier.4" and picture["feature_dim"] == 84  # the last Linear's input
    if method == "pca":  # reference: numpy's SVD of the centred features (components are defined up to sign)
        features = digits_run.predictor.features(digits_run.test.x[picture["indices"]]).astype(np.float64)
        centred = features - features.mean(axis=0)
        reference = centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T
        assert_close(torch.from_numpy(np.abs(points)), torch.from_numpy(np.abs(reference)), atol=1e-3, rtol=1e-3)


def test_misclassified_grid_shows_only_mistakes_most_confident_first(digits_run, tmp_path):
    picture = pictures.plot_misclassified(digits_run.package, path=tmp_path / "wrong.png", limit=12)
    assert_png(tmp_path / "wrong.png")
    prediction = digits_run.predictor.predict(digits_run.test.x)
    truth = digits_run.test.y.numpy()
    assert picture["wrong"] == int((prediction.indices != truth).sum()) > 0
    examples = picture["examples"]
    assert len(examples) == min(12, picture["wrong"])
    for example in examples:
        i = example["index"]
        assert example["true"] == str(truth[i]) and example["predicted"] == prediction.labels[i] != example["true"]
        assert example["probability"] == pytest.approx(prediction.probabilities[i].max())
    assert [e["probability"] for e in examples] == sorted((e["probability"] for e in examples), reverse=True)


def test_picture_shows_inline_in_jupyter_and_checks_its_file_type(digits_run, tmp_path):
    picture = pictures.plot_filters(digits_run.package)
    assert picture["files"] == [] and picture._repr_png_().startswith(b"\x89PNG")
    assert picture._repr_html_() is None  # one figure: Jupyter uses the PNG
    maps = pictures.plot_feature_maps(digits_run.package, digits_run.test.x[0])
    assert maps._repr_html_().count("<img") == 2
    with pytest.raises(ValueError, match=r"\.png, \.svg, \.pdf"):
        picture.save(tmp_path / "filters.jpg")


# -- CLI ---------------------------------------------------------------------------------------------
def test_cli_writes_every_picture_and_prints_json(digits_run, tmp_path, cli, capsys, monkeypatch):
    monkeypatch.setenv("SHENDU_DB", digits_run.db)
    package = digits_run.package
    commands = {
        "curves": ["curves", digits_run.run_id],
        "confusion": ["confusion", package, "--data", "digits", "--split", "test"],
        "filters": ["filters", package],
        "gradcam": ["gradcam", package, "--index", "3", "--data", "digits"],
        "embedding": ["embedding", package, "--data", "digits", "--method", "pca"],
        "misclassified": ["misclassified", package, "--data", "digits"],
    }
    for name, args in commands.items():
        out = tmp_path / f"{name}.png"
        assert cli(["viz", *args, "--out", str(out), "--json"]) == 0, name
        assert last_json(capsys)["files"] == [str(out)]
        assert_png(out)
    assert cli(["viz", "features", package, "--index", "3", "--data", "digits", "--out", str(tmp_path / "maps"),
                "--json"]) == 0
    assert [Path(f).name for f in last_json(capsys)["files"]] == ["00_features.0.png", "01_features.3.png"]
    assert cli(["viz", "confusion", package, "--out", str(tmp_path / "c.png")]) == 0
    assert "accuracy" in capsys.readouterr().out


def test_cli_bad_input_exits_2_with_what_was_expected(digits_run, tmp_path, cli, capsys):
    assert cli(["viz", "filters", digits_run.package, "--out", str(tmp_path / "f.jpg")]) == 2
    assert "expected a file ending in .png, .svg, .pdf" in capsys.readouterr().err
    assert cli(["viz", "gradcam", digits_run.package, "--index", "999", "--out", str(tmp_path / "g.png")]) == 2
    assert "0 to 179" in capsys.readouterr().err
    assert cli(["viz", "embedding", digits_run.package, "--method", "umap", "--out", str(tmp_path / "e.png")]) == 2
    assert "pca, tsne" in capsys.readouterr().err
    assert cli(["viz", "curves", "no-such-run", "--out", str(tmp_path / "c.png")]) == 2
    assert not os.listdir(tmp_path)
