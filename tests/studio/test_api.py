"""The studio's pages and JSON API in-process (FastAPI TestClient): every page renders in both languages, the
API answers what the pages show, and every hostile input gets a 4xx that says what was expected.

Tolerances: predictions are compared with `Predictor.predict` on the same pixels at atol 1e-6; group statistics
with NumPy's mean and std (ddof=1) at rel 1e-9.
"""
from __future__ import annotations

import base64
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shendu.hub import load_package
from shendu.track import open_store

from tests.studio.conftest import TestClient, make_run

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")

PAGES = ["/jobs", "/datasets", "/datasets/digits", "/models", "/models/lenet5", "/spec", "/jobs/new", "/runs",
         "/playground", "/compare"]


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming width×height grey pixels, with a tiny zlib stream of zeros (a few KB on disk,
    gigabytes once decoded) — what a decompression bomb looks like."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (width + 1) * 64, 9)  # only the first rows: decoding would need them all
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


# -- pages and language ----------------------------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_in_both_languages(client: TestClient, page: str) -> None:
    english = client.get(page)
    assert english.status_code == 200, english.text[:500]
    assert "Datasets" in english.text and "数据集" not in english.text.split("<main>")[0]
    client.cookies.set("shendu_lang", "zh")
    chinese = client.get(page)
    assert chinese.status_code == 200
    assert ">数据集<" in chinese.text and 'lang="zh-CN"' in chinese.text


def test_language_switch_sets_a_cookie_and_never_redirects_off_site(client: TestClient) -> None:
    answer = client.get("/lang/zh?next=/models", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/models"
    assert "shendu_lang=zh" in answer.headers["set-cookie"]
    assert client.get("/lang/en?next=//evil.example/x", follow_redirects=False).headers["location"] == "/"
    assert client.get("/lang/fr", follow_redirects=False).status_code == 404


def test_api_docs_work_offline(client: TestClient) -> None:
    page = client.get("/docs").text
    assert "http://" not in page and "https://" not in page  # no CDN: every asset from the studio itself
    for asset in ("/static-offline-docs/swagger-ui-bundle.js", "/static-offline-docs/swagger-ui.css"):
        assert asset in page and client.get(asset).status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/jobs", "/api/predict", "/api/compare.csv", "/api/jobs/{job_id}/events"} <= set(paths)


# -- datasets ---------------------------------------------------------------------------------------------
def test_digits_preview_counts_every_sample_once(client: TestClient) -> None:
    rows = {row["name"]: row for row in client.get("/api/datasets").json()}
    assert rows["digits"]["state"] == "bundled"
    preview = client.get("/api/datasets/digits?split=test").json()
    assert sum(sum(counts) for counts in preview["balance"].values()) == 1797  # scikit-learn's digits
    assert len(preview["samples"]) == 24 and preview["samples"][0]["image"].startswith("data:image/png;base64,")
    page = client.get("/datasets/digits").text
    assert "Class balance" in page and page.count('class="pixel"') == 24


@pytest.mark.parametrize("path", ["../../../../etc/passwd", "..%2F..%2F..%2Fetc%2Fpasswd", "/etc/passwd",
                                  "train-images-idx3-ubyte.gz/../../../shendu.db"])
def test_dataset_files_never_leave_the_data_folders(client: TestClient, path: str) -> None:
    answer = client.get(f"/api/datasets/mnist/files/{path}")
    assert answer.status_code in (400, 403, 404), answer.status_code
    assert "root:" not in answer.text
    if answer.status_code != 404:  # 404 is only for a clean name that is absent
        assert "outside" in answer.json()["detail"] or "relative" in answer.json()["detail"]


def test_dataset_file_from_the_mirror(client: TestClient, shared_data: Path) -> None:
    answer = client.get("/api/datasets/mnist/files/t10k-labels-idx1-ubyte.gz")
    assert answer.status_code == 200
    assert answer.content == (shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()


def test_download_from_the_mirror_verifies_the_files(client: TestClient, shared_data: Path) -> None:
    assert client.post("/api/datasets/digits/download").json() == {"name": "digits", "files": []}  # bundled
    files = client.post("/api/datasets/mnist/download").json()["files"]
    assert sorted(Path(f).name for f in files) == sorted(p.name for p in (shared_data / "mnist").glob("*.gz"))
    assert client.post("/api/datasets/nope/download").status_code == 404


def test_a_symlink_out_of_the_cache_is_refused(client: TestClient, shendu_home: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    cache = shendu_home / "cache" / "datasets" / "mnist"
    cache.mkdir(parents=True)
    (cache / "link.gz").symlink_to(secret)
    answer = client.get("/api/datasets/mnist/files/link.gz")
    assert answer.status_code == 403 and "top secret" not in answer.text


# -- models and specs -------------------------------------------------------------------------------------
def test_model_summary_matches_the_paper_count(client: TestClient) -> None:
    lenet = client.get("/api/models/lenet5").json()
    assert lenet["totals"]["params"] == 61_706  # LeCun et al. 1998, 10 classes
    assert lenet["graph_svg"].startswith("<svg")
    assert client.get("/api/models/lenet").status_code == 404


def test_spec_check_reports_the_layer_at_fault(client: TestClient) -> None:
    text = "layers:\n- {type: flatten}\n- {type: linear, out_features: 10}"
    good = client.post("/api/specs/check", json={"text": text, "input_shape": "1x8x8"}).json()
    assert good["ok"] and good["params"] == 64 * 10 + 10 and "<svg" in good["graph_svg"]
    bad = client.post("/api/specs/check", json={"text": "layers:\n- {type: conv2d, out_channels: 4, kernel_size: 9}",
                                                "input_shape": "1x8x8"}).json()
    assert not bad["ok"] and "conv2d" in bad["error"]
    assert not client.post("/api/specs/check", json={"text": "layers: [", "input_shape": "1x8x8"}).json()["ok"]


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", "x" * 80, ""])
def test_spec_names_cannot_be_paths(client: TestClient, name: str, shendu_home: Path) -> None:
    text = "layers:\n- {type: flatten}\n- {type: linear, out_features: 10}"
    answer = client.post("/api/specs", json={"name": name, "text": text, "input_shape": "1x8x8"})
    assert answer.status_code == 422
    assert not list(shendu_home.rglob("escape*"))
    assert client.get(f"/api/specs/{name or 'x'}").status_code in (404, 422)


def test_saved_spec_trains_as_net_spec(client: TestClient) -> None:
    text = "layers:\n- {type: flatten}\n- {type: linear, out_features: $num_classes}"
    assert client.post("/api/specs", json={"name": "tiny", "text": text, "input_shape": "1x8x8"}).status_code == 200
    assert client.get("/api/specs").json() == ["tiny"]
    checked = client.post("/api/config/check", json={"data.name": "digits", "model.name": "net_spec",
                                                     "spec": "tiny"}).json()
    assert checked["ok"], checked
    assert checked["config"]["model"]["args"]["spec"]["layers"][1]["out_features"] == "$num_classes"


# -- jobs -------------------------------------------------------------------------------------------------
def test_config_errors_land_on_their_fields(client: TestClient) -> None:
    answer = client.post("/api/config/check", json={"data.name": "digits", "model.name": "lenet5",
                                                    "optim.lr": "-1", "train.epochs": "many",
                                                    "extra": "optim.lrr=0.1"}).json()
    assert not answer["ok"]
    assert "greater than 0" in answer["errors"]["optim.lr"] and "-1" in answer["errors"]["optim.lr"]
    assert "integer" in answer["errors"]["train.epochs"]
    page = client.post("/jobs/new", data={"data.name": "digits", "model.name": "lenet5", "optim.lr": "-1"})
    assert page.status_code == 422 and "greater than 0" in page.text and "has-error" in page.text


def test_unknown_key_suggests_the_right_one(client: TestClient) -> None:
    answer = client.post("/api/config/check", json={"data.name": "digits", "extra": "optim.lrr=0.1"}).json()
    assert "did you mean 'optim.lr'" in answer["errors"]["extra"]


def test_queue_stop_and_resume_without_workers(client: TestClient) -> None:
    job = client.post("/api/jobs", json={"data.name": "digits", "model.name": "lenet5", "name": "q1"})
    assert job.status_code == 201, job.text
    job_id = job.json()["id"]
    assert job.json()["status"] == "queued" and f"studio-job-{job_id}" in job.json()["config"]["track"]["tags"]
    assert client.post(f"/api/jobs/{job_id}/stop").json()["status"] == "stopped"
    assert client.post(f"/api/jobs/{job_id}/stop").status_code == 422  # already finished
    assert client.post(f"/api/jobs/{job_id}/resume").json()["status"] == "queued"
    assert client.get("/api/jobs/99999").status_code == 422
    assert "q1" in client.get("/jobs").text and "queued" in client.get(f"/jobs/{job_id}").text


def test_invalid_job_is_not_queued(client: TestClient) -> None:
    answer = client.post("/api/jobs", json={"data.name": "digits", "model.name": "lenet5", "train.epochs": "0"})
    assert answer.status_code == 422 and "train.epochs" in answer.json()["detail"]["errors"]
    assert client.get("/api/jobs").json() == []


# -- runs, compare, export --------------------------------------------------------------------------------
def test_compare_groups_with_mean_and_std(client: TestClient, shendu_home: Path) -> None:
    accs = [0.8, 0.9, 0.95]
    ids = [make_run(shendu_home, seed=i, metrics={"val_accuracy": a}) for i, a in enumerate(accs)]
    data = client.get("/api/compare", params={"ids": ids, "by": "model.name"}).json()
    (group,) = data["groups"]
    assert group["count"] == 3
    stats = group["metrics"]["val_accuracy"]
    assert stats["mean"] == pytest.approx(np.mean(accs), rel=1e-9)
    assert stats["std"] == pytest.approx(np.std(accs, ddof=1), rel=1e-9)
    assert client.get("/compare", params={"ids": ids}).status_code == 200
    csv_text = client.get("/api/compare.csv", params={"ids": ids}).text
    lines = csv_text.strip().splitlines()
    assert len(lines) == 4 and lines[0].startswith("id,name,status") and "val_accuracy.final" in lines[0]
    assert client.get("/api/compare", params={"ids": ids[:1]}).status_code == 422


def test_run_page_and_pictures(client: TestClient, shendu_home: Path) -> None:
    run_id = make_run(shendu_home)
    page = client.get(f"/runs/{run_id}")
    assert page.status_code == 200 and "curves-data" in page.text
    confusion = client.get(f"/api/runs/{run_id}/confusion").json()
    assert confusion["count"] == sum(map(sum, confusion["matrix"])) == 180  # digits' test split
    picture = client.get(f"/api/runs/{run_id}/pictures/filters.png")
    assert picture.status_code == 200 and picture.content.startswith(b"\x89PNG")
    assert client.get(f"/api/runs/{run_id}/pictures/secrets.png").status_code == 422
    assert client.get("/api/runs/nope/confusion").status_code == 404


# -- inference and hostile uploads ------------------------------------------------------------------------
def test_upload_prediction_equals_the_package(client: TestClient, shendu_home: Path) -> None:
    run_id = make_run(shendu_home)
    digit = (np.arange(64, dtype=np.uint8).reshape(8, 8) * 4)
    answer = client.post("/api/predict", data={"run": run_id}, files={"file": ("d.png", png(digit), "image/png")})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    predictor = load_package(open_store().get_run(run_id).package)
    expected = predictor.predict(digit[None, None]).probabilities[0]
    assert body["label"] == str(int(expected.argmax()))
    got = {p["label"]: p["probability"] for p in body["probabilities"]}
    for label, probability in got.items():
        assert probability == pytest.approx(float(expected[int(label)]), abs=1e-6)
    assert body["gradcam"]["image"].startswith("data:image/png")
    as_json = client.post("/api/predict", json={"run": run_id, "image": base64.b64encode(png(digit)).decode()})
    assert as_json.json()["label"] == body["label"]


def test_oversized_upload_is_refused_before_parsing(client: TestClient, shendu_home: Path) -> None:
    run_id = make_run(shendu_home)
    noise = np.random.default_rng(0).integers(0, 255, (1100, 1100), dtype=np.uint8)  # noise does not compress
    payload = png(noise)
    assert len(payload) > 1 << 20
    answer = client.post("/api/predict", data={"run": run_id}, files={"file": ("big.png", payload, "image/png")})
    assert answer.status_code == 413 and "limit" in answer.json()["detail"]


def test_non_image_upload_is_a_400(client: TestClient, shendu_home: Path) -> None:
    run_id = make_run(shendu_home)
    answer = client.post("/api/predict", data={"run": run_id},
                         files={"file": ("evil.png", b"#!/bin/sh\nrm -rf /\n", "image/png")})
    assert answer.status_code == 400 and "not an image" in answer.json()["detail"]
    bad_b64 = client.post("/api/predict", json={"run": run_id, "image": "%%%not-base64%%%"})
    assert bad_b64.status_code == 400


@pytest.mark.parametrize("side", [2_000, 40_000])
def test_decompression_bomb_is_refused_without_decoding(client: TestClient, shendu_home: Path, side: int) -> None:
    run_id = make_run(shendu_home)
    bomb = bomb_png(side, side)
    assert len(bomb) < 200_000  # small on the wire
    answer = client.post("/api/predict", data={"run": run_id}, files={"file": ("bomb.png", bomb, "image/png")})
    assert answer.status_code in (400, 413), answer.text
    detail = answer.json()["detail"]
    assert "pixels" in detail or "decompression" in detail.lower() or "exceeds limit" in detail


def test_predict_needs_a_completed_run(client: TestClient, shendu_home: Path) -> None:
    store = open_store()
    running = store.create_run(config={}, seed=0, model="lenet5", dataset="digits")
    blank = base64.b64encode(png(np.zeros((8, 8), np.uint8))).decode()
    answer = client.post("/api/predict", json={"run": running, "image": blank})
    assert answer.status_code == 409 and "no model package" in answer.json()["detail"]
    assert client.post("/api/predict", json={"image": "x"}).status_code == 422
    assert client.post("/api/predict", content=b"{not json", headers={"content-type": "application/json"}
                       ).status_code == 400


def test_cross_site_posts_are_refused(client: TestClient) -> None:
    form = {"data.name": "digits", "model.name": "lenet5"}
    evil = client.post("/jobs/new", data=form, headers={"Origin": "http://evil.example"}, follow_redirects=False)
    assert evil.status_code == 403 and "cross-site" in evil.json()["detail"]
    assert client.get("/api/jobs").json() == []
    own = client.post("/jobs/new", data=form, headers={"Origin": "http://testserver"}, follow_redirects=False)
    assert own.status_code == 303 and len(client.get("/api/jobs").json()) == 1


def test_loopback_studio_refuses_other_host_names(shendu_home: Path) -> None:
    from shendu.studio import create_app

    with TestClient(create_app(start_queue=False, trusted_hosts=("127.0.0.1", "localhost")),
                    base_url="http://127.0.0.1:8765") as c:
        assert c.get("/api/jobs").status_code == 200
        assert c.get("/api/jobs", headers={"Host": "rebound.evil.example"}).status_code == 400


# -- token ------------------------------------------------------------------------------------------------
def test_token_is_checked_on_every_request(shendu_home: Path) -> None:
    from shendu.studio import create_app

    with TestClient(create_app(start_queue=False, token="s3cret")) as c:
        for path in ("/jobs", "/api/jobs", "/docs", "/openapi.json", "/static/studio.js", "/api/datasets"):
            missing = c.get(path)
            assert missing.status_code == 401 and "token" in missing.json()["detail"], path
        assert c.get("/api/jobs", headers={"Authorization": "Bearer wrong"}).json()["detail"].startswith("Wrong token")
        assert c.get("/api/jobs", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        login = c.get("/runs?token=s3cret&filter=", follow_redirects=False)
        assert login.status_code == 303 and "token" not in login.headers["location"]
        assert c.get("/runs").status_code == 200  # the cookie from the login
        c.cookies.set("shendu_studio_token", "bad")
        assert c.post("/api/jobs", json={"data.name": "digits"}).status_code == 401
        assert c.get("/api/jobs").status_code == 401


def test_typed_sentence_is_classified_by_a_text_package(client: TestClient, shendu_home: Path) -> None:
    text = pytest.importorskip("shendu.text")
    import torch

    from shendu.hub import save_package
    from shendu.models import create_model

    pipeline = text.TextPipeline.fit(["这家酒店很好", "房间太小了，隔音很差", "服务很好，早餐也不错", "再也不来了"],
                                     tokenizer="jieba", max_len=12)
    args = {"vocab_size": pipeline.vocab_size, "embed_dim": 8, "maps": 4}
    torch.manual_seed(0)
    store = open_store()
    run_id = store.create_run(config={"model": {"name": "textcnn"}}, seed=0, model="textcnn", dataset="chnsenticorp")
    path = save_package(shendu_home / "packages" / run_id, create_model("textcnn", num_classes=2, **args),
                        model_name="textcnn", model_args=args, num_classes=2, in_channels=1, input_size=12,
                        preprocessing=pipeline, classes=["negative", "positive"], metrics={},
                        config={"model": {"name": "textcnn"}}, run_id=run_id)
    store.set_package(run_id, path)
    store.finish(run_id, "completed")
    sentence = "房间很干净，服务也很好"
    answer = client.post("/api/predict", json={"run": run_id, "text": sentence, "top_k": 2})
    assert answer.status_code == 200, answer.text
    expected = load_package(path).predict([sentence]).probabilities[0]
    got = {p["label"]: p["probability"] for p in answer.json()["probabilities"]}
    assert got["negative"] == pytest.approx(float(expected[0]), abs=1e-6)
    assert got["positive"] == pytest.approx(float(expected[1]), abs=1e-6)
    assert 'data-modality="text"' in client.get(f"/playground?run={run_id}").text
    assert client.post("/api/predict", json={"run": run_id, "text": "   "}).status_code == 422
    assert client.post("/api/predict", json={"run": run_id, "text": "长" * 5000}).status_code == 413
