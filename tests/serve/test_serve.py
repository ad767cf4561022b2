"""`shendu serve`: every endpoint and every rejection through FastAPI's TestClient, micro-batching that really
batches, answers equal to `Predictor.predict`, tokens, and the onnxruntime backend.

Tolerances: the torch backend runs the same preprocessing and network as `Predictor.predict`, so answers are
compared at atol 1e-6 on probabilities (a batch composed differently may change float summation order by an
ulp); ONNX Runtime against PyTorch at atol 1e-5.
"""
from __future__ import annotations

import asyncio
import base64
import io
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
import typer
from PIL import Image

from shendu.errors import BadInputError
from shendu.hub import load_package, save_package
from shendu.models import create_model
from shendu.serve import Limits, MicroBatcher, create_app
from shendu.serve._app import is_loopback, model_name, parse_specs, resolve_token
from shendu.serve._batcher import BatcherClosed
from shendu.train._preprocess import Preprocessing

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
TestClient = pytest.importorskip("fastapi.testclient").TestClient


def make_package(path: Path, name: str = "lenet5", channels: int = 1, size: int = 28, classes: int = 10,
                 args: dict | None = None) -> Path:
    torch.manual_seed(0)
    model = create_model(name, num_classes=classes, in_channels=channels, input_size=size, **(args or {}))
    return save_package(path, model, model_name=name, model_args=args or {}, num_classes=classes,
                        in_channels=channels, input_size=size,
                        preprocessing=Preprocessing((0.5,) * channels, (0.25,) * channels, (channels, size, size)),
                        classes=[f"class_{i}" for i in range(classes)], metrics={"test_acc": 0.875},
                        config={"model": {"name": name}}, run_id="run-abc")


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("serve_packages")
    return {"digits": make_package(root / "digits"),
            "rgb": make_package(root / "rgb", channels=3, size=16, classes=3),
            "text": make_package(root / "text", "textcnn", size=16, classes=2,
                                 args={"vocab_size": 50, "embed_dim": 8, "maps": 4})}


@pytest.fixture(scope="module")
def predictor(packages):
    return load_package(packages["digits"])


@pytest.fixture(scope="module")
def client(packages):
    with TestClient(create_app({"digits": packages["digits"]})) as c:
        yield c


def pixels(n: int, shape=(1, 28, 28), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8)


def all_probs(response: dict, k: int) -> np.ndarray:
    """(N, K) probabilities rebuilt from a response made with top_k = K."""
    out = np.zeros((len(response["predictions"]), k))
    for i, row in enumerate(response["predictions"]):
        for choice in row["probabilities"]:
            out[i, choice["index"]] = choice["probability"]
    return out


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


# -- answers equal Predictor.predict ------------------------------------------------------------------
def test_json_uint8_inputs_match_predictor(client, predictor):
    x = pixels(5)
    r = client.post("/predict", json={"inputs": x.tolist(), "top_k": 10})
    assert r.status_code == 200, r.text
    body, ref = r.json(), predictor.predict(x)
    assert body["model"] == "digits" and body["backend"] == "torch"
    assert [p["label"] for p in body["predictions"]] == ref.labels
    assert [p["index"] for p in body["predictions"]] == ref.indices.tolist()
    np.testing.assert_allclose(all_probs(body, 10), ref.probabilities, atol=1e-6, rtol=0)


def test_json_float_inputs_without_channel_axis_match_predictor(client, predictor):
    x = pixels(3, (28, 28), seed=1).astype(np.float64) / 255  # (N, H, W) floats in [0, 1]
    body = client.post("/predict", json={"inputs": x.tolist(), "top_k": 10}).json()
    ref = predictor.predict(x[:, None])
    assert [p["label"] for p in body["predictions"]] == ref.labels
    np.testing.assert_allclose(all_probs(body, 10), ref.probabilities, atol=1e-6, rtol=0)


def test_base64_and_multipart_images_match_predictor_on_files(packages, tmp_path):
    """Images of another size and mode are converted and resized exactly as `predict(files)` does."""
    rng = np.random.default_rng(2)
    paths = []
    for i in range(3):
        path = tmp_path / f"img{i}.png"
        path.write_bytes(png_bytes(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)))  # RGB 30×40
        paths.append(path)
    ref = load_package(packages["digits"]).predict([str(p) for p in paths])
    encoded = [base64.b64encode(p.read_bytes()).decode() for p in paths]
    encoded[1] = "data:image/png;base64," + encoded[1]  # data URLs are accepted too
    with TestClient(create_app({"digits": packages["digits"]})) as c:
        b64 = c.post("/predict", json={"images": encoded, "top_k": 10}).json()
        files = [("files", (p.name, p.read_bytes(), "image/png")) for p in paths]
        multi = c.post("/predict", files=files, data={"top_k": "10"}).json()
    for body in (b64, multi):
        assert [p["label"] for p in body["predictions"]] == ref.labels
        np.testing.assert_allclose(all_probs(body, 10), ref.probabilities, atol=1e-6, rtol=0)


def test_rgb_model_takes_chw_inputs(packages):
    x = pixels(2, (3, 16, 16), seed=3)
    ref = load_package(packages["rgb"]).predict(x)
    with TestClient(create_app({"rgb": packages["rgb"]})) as c:
        body = c.post("/predict", json={"inputs": x.tolist(), "top_k": 3}).json()
    np.testing.assert_allclose(all_probs(body, 3), ref.probabilities, atol=1e-6, rtol=0)


def test_top_k_lists_most_probable_first(client):
    x = pixels(2).tolist()
    default = client.post("/predict", json={"inputs": x}).json()["predictions"][0]
    assert len(default["probabilities"]) == 5
    row = client.post("/predict?top_k=3", json={"inputs": x}).json()["predictions"][1]
    probs = [c["probability"] for c in row["probabilities"]]
    assert len(probs) == 3 and probs == sorted(probs, reverse=True)
    assert row["probabilities"][0] == {"label": row["label"], "index": row["index"], "probability": row["probability"]}


# -- the other endpoints ------------------------------------------------------------------------------
def test_models_lists_classes_shape_and_metrics(client):
    (info,) = client.get("/models").json()
    assert info["name"] == "digits" and info["architecture"] == "lenet5" and info["backend"] == "torch"
    assert info["classes"] == [f"class_{i}" for i in range(10)] and info["input_shape"] == [1, 28, 28]
    assert info["metrics"] == {"test_acc": 0.875} and info["run_id"] == "run-abc"


def test_health_reports_batching_counters(packages):
    with TestClient(create_app({"digits": packages["digits"]})) as c:
        c.post("/predict", json={"inputs": pixels(3).tolist()})
        health = c.get("/health").json()
    assert health["status"] == "ok" and health["backend"] == "torch"
    assert health["models"]["digits"] == {"requests": 1, "items": 3, "forwards": 1, "largest_batch": 3,
                                         "waiting": 0}


def test_openapi_docs_describe_the_endpoints(client):
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/predict", "/models/{name}/predict", "/models", "/health"} <= set(spec["paths"])
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(body)
    assert "inputs" in body["application/json"]["schema"]["properties"]


# -- rejections say what was expected and what was received ------------------------------------------
BAD_JSON = [
    ({"inputs": [[[1, 2, 3]]]}, 422, "expected 'inputs' shaped (N, 1, 28, 28) or (N, 28, 28), received an array "
                                     "of shape (1, 1, 3)"),
    ({"inputs": [[[0] * 28] * 28, [[0] * 27] * 28]}, 422, "received ragged lists"),
    ({"inputs": [[["a"] * 28] * 28]}, 422, "expected 'inputs' to hold numbers, received str"),
    ({"inputs": 5}, 422, "expected 'inputs' to be a list of N images shaped N, 1, 28, 28"),
    ({"inputs": [[[300] * 28] * 28]}, 422, "expected integer 'inputs' to be pixels 0–255, received values from "
                                           "300 to 300"),
    ({"inputs": [[[1.5] * 28] * 28]}, 422, "expected float 'inputs' scaled to [0, 1], received values from 1.5 to "
                                           "1.5; send integers for 0–255 pixels"),
    ({"inptus": []}, 422, "unknown field 'inptus' in the JSON body — did you mean 'inputs'?"),
    ({"model": "digits"}, 422, "expected exactly one of 'inputs' (arrays), 'images' (base64) or 'texts'"),
    ({"inputs": [[[0] * 28] * 28], "images": ["x"]}, 422, "received 'inputs', 'images'"),
    ({"texts": ["hello"]}, 422, "model 'digits' takes images, received 'texts'"),
    ({"inputs": [[[0] * 28] * 28], "top_k": 11}, 422, "expected top_k to be an integer from 1 to 10 (the number "
                                                      "of classes), received 11"),
    ({"inputs": [[[0] * 28] * 28], "model": "digts"}, 404, "no model 'digts' is served — did you mean 'digits'? "
                                                           "(available: digits)"),
    ({"images": ["not base64!"]}, 400, "images[0] is not valid base64"),
    ({"images": [base64.b64encode(b"hello, not an image").decode()]}, 400,
     "images[0] is not an image file Pillow can read (received 19 bytes starting b'hello, n')"),
    ([1, 2], 422, "expected a JSON object such as {\"inputs\": [[...]]}, received a list"),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD_JSON)
def test_bad_requests_are_rejected_with_what_was_expected(client, body, status, message):
    r = client.post("/predict", json=body)
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]


def test_malformed_bodies_and_types(client):
    r = client.post("/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "the body is not valid JSON" in r.json()["detail"]
    r = client.post("/predict", content=b"inputs=1", headers={"content-type": "text/plain"})
    assert r.status_code == 415 and "unsupported content type 'text/plain'" in r.json()["detail"]
    truncated = png_bytes(pixels(1, (28, 28))[0])[:60]
    r = client.post("/predict", files=[("files", ("cut.png", truncated, "image/png"))])
    assert r.status_code == 400 and "files[0] (cut.png) is a damaged or truncated image" in r.json()["detail"]
    r = client.post("/predict", files=[("files", ("a.png", b"x", "image/png"))], data={"modle": "digits"})
    assert r.status_code == 422 and "unknown field 'modle' in the form — did you mean 'model'?" in r.json()["detail"]


def test_size_limits_answer_413(packages):
    limits = Limits(max_items=4, max_body_bytes=200_000, max_image_pixels=100 * 100)
    with TestClient(create_app({"digits": packages["digits"]}, limits=limits)) as c:
        r = c.post("/predict", json={"inputs": pixels(5).tolist()})
        assert r.status_code == 413 and "expected at most 4 items per request, received 5" in r.json()["detail"]
        files = [("files", (f"{i}.png", png_bytes(pixels(1, (28, 28))[0]), "image/png")) for i in range(6)]
        r = c.post("/predict", files=files)
        assert r.status_code == 413 and "expected at most 4 files per request" in r.json()["detail"]
        r = c.post("/predict", content=b" " * 300_000, headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert r.json()["detail"].startswith("request body is 300,000 bytes, more than the limit of 200,000 bytes")
        chunks = (b" " * 50_000 for _ in range(6))  # no Content-Length: counted while streaming
        r = c.post("/predict", content=chunks, headers={"content-type": "application/json"})
        assert r.status_code == 413 and "request body is at least " in r.json()["detail"]
        big = base64.b64encode(png_bytes(np.zeros((101, 100), np.uint8))).decode()
        r = c.post("/predict", json={"images": [big]})
        assert r.status_code == 413
        assert "images[0] is 100×101 pixels, more than the limit of 10,000" in r.json()["detail"]


def text_package(path: Path) -> Path:
    """A TextCNN package carrying a jieba pipeline fitted on a few reviews (weights random but fixed)."""
    from shendu.text import TextPipeline

    reviews = ["这家酒店很好", "房间太小了，隔音很差", "服务很好，早餐也不错", "再也不来了"]
    pipeline = TextPipeline.fit(reviews, tokenizer="jieba", max_len=12)
    args = {"vocab_size": pipeline.vocab_size, "embed_dim": 8, "maps": 4}
    torch.manual_seed(0)
    model = create_model("textcnn", num_classes=2, **args)
    return save_package(path, model, model_name="textcnn", model_args=args, num_classes=2, in_channels=1,
                        input_size=pipeline.max_len, preprocessing=pipeline, classes=["negative", "positive"],
                        metrics={}, config={"model": {"name": "textcnn"}}, run_id="run-text")


TEXTS = ["这家酒店很好", "房间太小了，隔音很差，服务也很差，再也不来了", "不错",
         "早餐很好 but the room was noisy"]


def test_texts_are_served_like_predictor_predict(tmp_path):
    """Four texts of different lengths in two concurrent requests: one forward, each answer = predict()."""
    package = text_package(tmp_path / "reviews")
    app = create_app({"reviews": package}, max_wait_ms=300)
    served = app.state.models["reviews"]

    async def fire() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return await asyncio.gather(c.post("/predict", json={"texts": TEXTS[:3], "top_k": 2}),
                                        c.post("/predict", json={"texts": TEXTS[3:], "top_k": 2}))

    try:
        responses = asyncio.run(fire())
    finally:
        served.batcher.close()
    assert [r.status_code for r in responses] == [200, 200], responses[0].text
    assert served.backend.forwards == 1 and served.batcher.stats["largest_batch"] == 4
    ref = load_package(package).predict(TEXTS)
    body = responses[0].json()["predictions"] + responses[1].json()["predictions"]
    assert [row["label"] for row in body] == ref.labels
    got = np.concatenate([all_probs(r.json(), 2) for r in responses])
    np.testing.assert_allclose(got, ref.probabilities, atol=1e-6, rtol=0)


def test_text_models_describe_their_tokenizer_and_refuse_other_inputs(tmp_path):
    package = text_package(tmp_path / "reviews")
    with TestClient(create_app({"reviews": package})) as c:
        (info,) = c.get("/models").json()
        pixels_sent = c.post("/predict", json={"inputs": [[1, 2, 3]]})
        empty = c.post("/predict", json={"texts": ["很好", "  "]})
        numbers = c.post("/predict", json={"texts": ["很好", 3]})
        too_many = c.post("/predict", json={"texts": ["好"] * 300})
    assert info["modality"] == "text" and info["tokenizer"] == "jieba" and info["max_len"] == 12
    assert "JSON 'texts'" in info["input"] and info["vocab_size"] == load_package(package).text_pipeline.vocab_size
    assert pixels_sent.status_code == 422
    assert "model 'reviews' is a text model, received 'inputs'" in pixels_sent.json()["detail"]
    assert empty.status_code == 422 and "texts[1] to be a non-empty string, received an empty string" in \
        empty.json()["detail"]
    assert numbers.status_code == 422
    assert "texts[1] to be a non-empty string, received int 3" in numbers.json()["detail"]
    assert too_many.status_code == 413


def test_text_models_need_the_torch_backend(tmp_path):
    with pytest.raises(BadInputError, match="text models are served with --backend torch"):
        create_app({"reviews": text_package(tmp_path / "reviews")}, backend="onnxruntime")


def test_text_packages_without_a_tokenizer_answer_501(packages):
    """Packages made before text pipelines were stored take token ids only: texts get a 501 that says why."""
    with TestClient(create_app({"text": packages["text"]})) as c:
        r = c.post("/predict", json={"texts": ["a fine film"]})
        assert r.status_code == 501
        assert "model 'text' is a text model (textcnn) whose package carries no tokenizer" in r.json()["detail"]
        (info,) = c.get("/models").json()
    assert info["modality"] == "text" and "this text package carries no tokenizer" in info["input"]


# -- several models -----------------------------------------------------------------------------------
def test_several_models_by_path_or_field(packages, predictor):
    x = pixels(2)
    app = create_app({"digits": packages["digits"], "rgb": packages["rgb"]})
    with TestClient(app) as c:
        by_path = c.post("/models/digits/predict", json={"inputs": x.tolist()}).json()
        by_field = c.post("/predict", json={"model": "digits", "inputs": x.tolist()}).json()
        rgb = c.post("/models/rgb/predict", json={"inputs": pixels(1, (3, 16, 16)).tolist()})
        ambiguous = c.post("/predict", json={"inputs": x.tolist()})
        unknown = c.post("/models/mnist/predict", json={"inputs": x.tolist()})
        conflict = c.post("/models/digits/predict", json={"model": "rgb", "inputs": x.tolist()})
        names = [m["name"] for m in c.get("/models").json()]
    assert [p["label"] for p in by_path["predictions"]] == predictor.predict(x).labels
    assert by_field["predictions"] == by_path["predictions"] and rgb.json()["model"] == "rgb"
    assert ambiguous.status_code == 422 and "several models are served (digits, rgb)" in ambiguous.json()["detail"]
    assert unknown.status_code == 404 and "(available: digits, rgb)" in unknown.json()["detail"]
    assert conflict.status_code == 422 and "the URL names model 'digits' but the 'model' field says 'rgb'" in \
        conflict.json()["detail"]
    assert names == ["digits", "rgb"]


def test_package_arguments_name_the_models(packages):
    assert model_name("user/mnist-lenet:v2") == "mnist-lenet:v2" and model_name("/a/b/run-1/") == "run-1"
    named = parse_specs([str(packages["digits"]), f"colour={packages['rgb']}"])
    assert named == {"digits": str(packages["digits"]), "colour": str(packages["rgb"])}
    with pytest.raises(BadInputError, match="two packages would be served as 'digits'.*NAME=PACKAGE"):
        parse_specs([str(packages["digits"]), str(packages["digits"])])
    with pytest.raises(BadInputError, match=r"unknown backend 'tensorflow' \(valid: torch, onnxruntime\)"):
        create_app([str(packages["digits"])], backend="tensorflow")
    with pytest.raises(BadInputError, match="expected threads ≥ 1, received 0"):
        create_app([str(packages["digits"])], threads=0)


def test_default_threads_leave_a_core_for_the_event_loop(monkeypatch):
    from shendu.serve import default_threads

    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    assert default_threads() == 3
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0}, raising=False)
    assert default_threads() == 1


# -- token --------------------------------------------------------------------------------------------
def test_token_is_checked_as_bearer(packages):
    x = {"inputs": pixels(1).tolist()}
    with TestClient(create_app({"digits": packages["digits"]}, token="s3cret")) as c:
        missing = c.post("/predict", json=x)
        wrong = c.post("/predict", json=x, headers={"Authorization": "Bearer nope"})
        basic = c.get("/models", headers={"Authorization": "Basic czNjcmV0"})
        ok = c.post("/predict", json=x, headers={"Authorization": "Bearer s3cret"})
        health = c.get("/health")
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert "expected 'Authorization: Bearer <token>', received no Authorization header" in missing.json()["detail"]
    assert wrong.status_code == 401 and "wrong token" in wrong.json()["detail"]
    assert basic.status_code == 401 and "another scheme ('Basic')" in basic.json()["detail"]
    assert ok.status_code == 200 and health.status_code == 200  # /health stays open for probes


def test_token_required_beyond_loopback():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("myhost")
    assert resolve_token("127.0.0.1", None) == (None, False)
    assert resolve_token("127.0.0.1", "given") == ("given", False)
    token, generated = resolve_token("0.0.0.0", None)
    assert generated and len(token) >= 32 and token != resolve_token("0.0.0.0", None)[0]


# -- micro-batching -----------------------------------------------------------------------------------
def test_concurrent_requests_share_forwards(packages, predictor):
    """16 requests at once (different images) → far fewer than 16 forwards, each answer its own."""
    app = create_app({"digits": packages["digits"]}, max_batch=64, max_wait_ms=300)
    served = app.state.models["digits"]
    images = [pixels(1, seed=s) for s in range(16)]

    async def fire() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return await asyncio.gather(*(c.post("/predict", json={"inputs": x.tolist(), "top_k": 10})
                                          for x in images))

    try:
        responses = asyncio.run(fire())
    finally:
        served.batcher.close()
    assert [r.status_code for r in responses] == [200] * 16
    assert served.backend.forwards < 16 and served.batcher.stats["largest_batch"] > 1
    ref = predictor.predict(np.concatenate(images))
    np.testing.assert_allclose(np.concatenate([all_probs(r.json(), 10) for r in responses]), ref.probabilities,
                               atol=1e-6, rtol=0)


def test_batcher_returns_each_request_its_own_rows():
    sizes: list[int] = []

    def run(x: np.ndarray) -> np.ndarray:
        sizes.append(len(x))
        time.sleep(0.01)  # a forward takes time: requests pile up behind it
        return x * 10

    batcher = MicroBatcher(run, max_batch=8, max_wait_ms=20)
    requests = [np.full((1 + i % 3, 2), i, dtype=np.int64) for i in range(30)] + [np.zeros((12, 2), np.int64)]
    results: dict[int, np.ndarray] = {}

    def client(i: int) -> None:
        results[i] = batcher.submit(requests[i]).result(timeout=30)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    batcher.close()
    for i, x in enumerate(requests):
        np.testing.assert_array_equal(results[i], x * 10)
    assert sum(sizes) == sum(len(x) for x in requests) and len(sizes) < len(requests)
    assert all(s <= 8 for s in sizes if s != 12)  # only the oversized request (12 > 8) runs alone, unsplit
    assert batcher.stats["forwards"] == len(sizes)


def test_batcher_drains_on_close_and_then_refuses():
    batcher = MicroBatcher(lambda x: x + 1, max_batch=100, max_wait_ms=60_000)  # would wait a minute
    futures = [batcher.submit(np.array([i])) for i in range(5)]
    batcher.close()  # must not wait for the minute: queued requests run now
    assert [f.result(timeout=0)[0] for f in futures] == [1, 2, 3, 4, 5]
    with pytest.raises(BatcherClosed, match="shutting down"):
        batcher.submit(np.array([0]))
    batcher.start()  # an app restarted in the same process (TestClient re-entered) serves again
    future = batcher.submit(np.array([7]))
    batcher.close()
    assert future.result(timeout=0)[0] == 8


def test_batcher_failure_reaches_every_waiting_request_and_worker_survives():
    calls = []

    def run(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        if len(calls) == 1:
            raise RuntimeError("out of memory")
        return x

    batcher = MicroBatcher(run, max_batch=4, max_wait_ms=200)
    first = [batcher.submit(np.array([i])) for i in range(2)]
    for f in first:
        with pytest.raises(RuntimeError, match="out of memory"):
            f.result(timeout=30)
    assert batcher.submit(np.array([3])).result(timeout=30)[0] == 3
    batcher.close()


def test_forward_failure_is_a_500_naming_the_model(packages):
    app = create_app({"digits": packages["digits"]})

    def broken(x: np.ndarray) -> np.ndarray:
        raise RuntimeError("worker crashed")

    app.state.models["digits"].batcher.run = broken
    with TestClient(app) as c:
        r = c.post("/predict", json={"inputs": pixels(1).tolist()})
    assert r.status_code == 500 and r.json()["detail"] == "inference failed in model 'digits': RuntimeError: " \
                                                          "worker crashed"


# -- onnxruntime backend ------------------------------------------------------------------------------
def test_onnxruntime_backend_matches_torch_and_caches_the_export(packages, predictor, shendu_home):
    pytest.importorskip("shendu.hub._export", reason="the ONNX export module is not there yet")
    x = pixels(6, seed=5)
    with TestClient(create_app({"digits": packages["digits"]}, backend="onnxruntime")) as c:
        body = c.post("/predict", json={"inputs": x.tolist(), "top_k": 10}).json()
        info = c.get("/models").json()[0]
    assert body["backend"] == "onnxruntime" and info["backend"] == "onnxruntime"
    ref = predictor.predict(x)
    assert [p["label"] for p in body["predictions"]] == ref.labels
    np.testing.assert_allclose(all_probs(body, 10), ref.probabilities, atol=1e-5, rtol=0)
    (cached,) = (shendu_home / "cache" / "onnx").glob("run-abc-*.onnx")
    stamp = cached.stat().st_mtime_ns
    app = create_app({"digits": packages["digits"]}, backend="onnxruntime")  # the second start reuses the file
    assert app.state.models["digits"].backend.onnx_path == cached and cached.stat().st_mtime_ns == stamp


# -- CLI ----------------------------------------------------------------------------------------------
def test_cli_passes_options_to_serve(packages, monkeypatch):
    from typer.testing import CliRunner

    from shendu.cli import serve as serve_cli

    seen = {}
    monkeypatch.setattr("shendu.serve.serve", lambda packages, **kw: seen.update(packages=packages, **kw))
    app = typer.Typer()
    app.callback()(lambda: None)
    serve_cli.register(app)
    result = CliRunner().invoke(app, ["serve", str(packages["digits"]), "rgb=" + str(packages["rgb"]), "--backend",
                                      "onnxruntime", "--host", "0.0.0.0", "--port", "9001", "--max-batch", "32",
                                      "--max-wait-ms", "2.5", "--max-items", "10", "--max-body-mb", "1",
                                      "--threads", "3"],
                                env={"SHENDU_SERVE_TOKEN": "from-env"})
    assert result.exit_code == 0, result.output
    assert seen["packages"] == [str(packages["digits"]), "rgb=" + str(packages["rgb"])]
    assert {k: seen[k] for k in ("backend", "host", "port", "max_batch", "max_wait_ms", "token", "max_items",
                                 "max_body_mb", "threads")} == {"backend": "onnxruntime", "host": "0.0.0.0",
                                                                "port": 9001, "max_batch": 32, "max_wait_ms": 2.5,
                                                                "token": "from-env", "max_items": 10,
                                                                "max_body_mb": 1.0, "threads": 3}


def test_serve_beyond_loopback_generates_and_enforces_a_token(packages, monkeypatch):
    """`serve` on 0.0.0.0 without --token prints a fresh token and the app requires it (nothing is bound here)."""
    import uvicorn

    from shendu.serve import serve

    started = {}
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: started.update(config=self.config))
    lines: list[str] = []
    serve([f"digits={packages['digits']}"], host="0.0.0.0", port=9002, echo=lines.append,
          threads=torch.get_num_threads())  # unchanged: the setting is process-wide
    printed = "\n".join(lines)
    token = printed.split("token (bound beyond loopback, so required): ")[1].split()[0]
    assert f"Authorization: Bearer {token}" in printed and "http://0.0.0.0:9002/docs" in printed
    config = started["config"]
    assert (config.host, config.port) == ("0.0.0.0", 9002)
    with TestClient(config.app) as c:
        x = {"inputs": pixels(1).tolist()}
        assert c.post("/predict", json=x).status_code == 401
        assert c.post("/predict", json=x, headers={"Authorization": f"Bearer {token}"}).status_code == 200
