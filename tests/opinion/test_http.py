"""HTTP ingest (FastAPI TestClient): JSON objects, arrays and NDJSON; malformed items reported by index while
the good ones are stored; background analysis while the app runs; the token; summary, alerts and the HTML page."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from shendu.opinion import AlertRule, LinearSentiment, Monitor, OpinionStore
from shendu.opinion._corpora import Review
from shendu.opinion._http import create_app

BASE = datetime(2026, 5, 1, tzinfo=timezone.utc)


def _post(i: int, text: str) -> dict:
    return {"text": text, "time": (BASE + timedelta(seconds=10 * i)).isoformat(), "source": "app", "author": f"u{i}"}


def test_posts_endpoint_stores_good_items_and_reports_malformed_ones(store: OpinionStore) -> None:
    client = TestClient(create_app(store))
    one = client.post("/posts", json=_post(0, "酒店位置很好"))
    assert one.status_code == 200 and one.json() == {"stored": 1, "duplicates": 0, "rejected": 0, "malformed": []}
    batch = client.post("/posts", json=[_post(1, "早餐丰富"), {"time": "2026-05-01"}, _post(0, "酒店位置很好"), "text",
                                        {"text": "时间不对", "time": "soon"}])
    result = batch.json()
    assert (result["stored"], result["duplicates"], result["rejected"]) == (1, 1, 3)
    assert [(m["item"], m["reason"]) for m in result["malformed"]] == [("item 1", "missing_text"),
                                                                     ("item 3", "not_object"),
                                                                     ("item 4", "bad_time")]
    ndjson = b"\n".join([json.dumps(_post(2, "服务热情"), ensure_ascii=False).encode(),
                         json.dumps(_post(3, "房间太小了"), ensure_ascii=False).encode("gbk"),
                         b"{broken", json.dumps(_post(4, "下次还来"), ensure_ascii=False).encode()])
    lines = client.post("/posts", content=ndjson, headers={"Content-Type": "application/x-ndjson"}).json()
    assert (lines["stored"], [m["reason"] for m in lines["malformed"]]) == (2, ["encoding", "json"])
    assert client.get("/health").json() == {"status": "ok", "posts": {"stored": 4, "analysed": 0, "pending": 4}}


def test_a_body_that_is_not_json_is_a_400_saying_what_to_send(store: OpinionStore) -> None:
    client = TestClient(create_app(store))
    response = client.post("/posts", content=b"text=hello", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and "NDJSON" in response.json()["detail"]
    assert client.post("/posts", json=42).status_code == 400
    small = TestClient(create_app(store, max_body_mb=1))
    big = small.post("/posts", content=b"[" + b" " * 2_000_000 + b"]", headers={"Content-Type": "application/json"})
    assert big.status_code == 413 and "--max-body-mb" in big.json()["detail"]


def test_token_guards_everything_but_health(store: OpinionStore) -> None:
    client = TestClient(create_app(store, token="s3cret"))
    assert client.get("/health").status_code == 200
    assert client.post("/posts", json=_post(0, "好")).status_code == 401
    ok = client.post("/posts", json=_post(0, "好评"), headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and ok.json()["stored"] == 1


def test_background_analysis_alerts_and_report_over_http(store: OpinionStore, scorer: LinearSentiment,
                                                         held_out: list[Review]) -> None:
    monitor = Monitor(store, scorer, rules=[AlertRule(threshold=0.4, min_posts=50)], batch_size=100)
    negatives = [r.text for r in held_out if r.label == 0][:80]
    with TestClient(create_app(store, monitor=monitor, idle_s=0.05)) as client:
        assert client.post("/posts", json=[_post(i, t) for i, t in enumerate(negatives)]).json()["stored"] == 80
        deadline = time.monotonic() + 60
        while client.get("/health").json()["posts"]["pending"] and time.monotonic() < deadline:
            time.sleep(0.05)
        period = {"since": BASE.isoformat(), "until": (BASE + timedelta(hours=1)).isoformat()}
        summary = client.get("/summary", params={**period, "window": "10m"}).json()
        alerts = client.get("/alerts", params=period).json()
        page = client.get("/", params=period)
    assert summary["posts"] == 80 and summary["negative_share"] > 0.6
    assert [w["posts"] for w in summary["windows"]] == [60, 20, 0, 0, 0, 0]
    assert [a["window_start"] for a in alerts] == [BASE.isoformat()]
    assert page.status_code == 200 and "舆情报告" in page.text and "data:image/png;base64," in page.text
    assert TestClient(create_app(store)).get("/summary", params={"since": "soon"}).status_code == 400


@pytest.mark.parametrize("content_type", ["application/x-ndjson", "application/jsonl"])
def test_ndjson_content_types(store: OpinionStore, content_type: str) -> None:
    body = "\n".join(json.dumps(_post(i, f"第{i}条"), ensure_ascii=False) for i in range(3)).encode()
    response = TestClient(create_app(store)).post("/posts", content=body, headers={"Content-Type": content_type})
    assert response.json()["stored"] == 3
