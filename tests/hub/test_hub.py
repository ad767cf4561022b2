"""The model hub as a user meets it: push to a registry directory, pull through a loopback HTTP server on
a clean cache, identical predictions; tampered and unsafe archives refused; registry order; bad names;
integrity checks on load; the `shendu hub` CLI with --json."""
from __future__ import annotations

import functools
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from shendu.errors import BadInputError, ChecksumError, PackageError
from shendu.hub import (
    HubError, HubNotFoundError, UnsafeArchiveError, info, list_models, load_package, parse_name, pull, push,
)
from shendu.hub._hub import cache_root
from shendu.models import create_model
from shendu.train._preprocess import Preprocessing

PREP = Preprocessing(mean=(0.5,), std=(0.25,), input_shape=(1, 8, 8))
IMAGES = torch.randint(0, 256, (16, 1, 8, 8), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)


def make_package(path: Path, seed: int = 0) -> Path:
    """A LeNet-5 package for 8×8 digits with weights drawn from `seed` (no training needed)."""
    from shendu.hub import save_package

    torch.manual_seed(seed)
    model = create_model("lenet5", num_classes=10, in_channels=1, input_size=8)
    return save_package(path, model, model_name="lenet5", model_args={}, num_classes=10, in_channels=1,
                        input_size=8, preprocessing=PREP, classes=[str(i) for i in range(10)],
                        metrics={"test_accuracy": {"final": 0.5, "best": 0.5}}, config={},
                        dataset={"name": "digits"})


@pytest.fixture
def package(tmp_path: Path) -> Path:
    return make_package(tmp_path / "pkg")


class _Server:
    """A static file server on loopback, serving `root`, recording the paths it was asked for."""

    def __init__(self, root: Path) -> None:
        self.requests: list[str] = []
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                server.requests.append(self.path)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def registry(tmp_path: Path):
    """(registry directory, the same directory served over HTTP on loopback)."""
    root = tmp_path / "registry"
    root.mkdir()
    server = _Server(root)
    yield root, server
    server.stop()


def _leftovers(root: Path) -> list[Path]:
    """Temporary files or half-unpacked packages a failed pull must not leave behind."""
    return [p for p in root.rglob("*") if p.name.startswith(".") and p.name not in (".hub-origin.json",)]


# ------------------------------------------------------------------------------------------------- round trip


def test_round_trip_over_http_predicts_identically(package, registry, monkeypatch):
    root, server = registry
    original = load_package(package)
    pushed = push(package, "alice/lenet5-digits:v1", registry=str(root))
    assert pushed["name"] == "alice/lenet5-digits:v1" and Path(pushed["path"]).is_file()
    index = json.loads((root / "index.json").read_text())
    assert index["schema"] == "shendu.hub/1"
    entry = index["models"]["alice/lenet5-digits"]
    assert entry["latest"] == "v1" and entry["tags"]["v1"]["archive"] == "alice/lenet5-digits/v1.tar.gz"
    assert entry["tags"]["v1"]["sha256"] == hashlib.sha256(Path(pushed["path"]).read_bytes()).hexdigest()
    assert entry["tags"]["v1"]["summary"]["model"] == "lenet5"
    assert not (root / "index.json.lock").exists()

    monkeypatch.setenv("SHENDU_HUB", server.url)
    assert not any(cache_root().iterdir())  # a clean cache
    pulled = load_package("alice/lenet5-digits:v1")
    assert "/alice/lenet5-digits/v1.tar.gz" in server.requests  # it really came over HTTP
    assert pulled.path == cache_root() / "alice" / "lenet5-digits" / "v1"
    assert sorted(p.name for p in pulled.path.iterdir()) == [".hub-origin.json", "model.safetensors", "shendu.json"]
    assert (pulled.path / "model.safetensors").read_bytes() == (package / "model.safetensors").read_bytes()
    ours, theirs = original.predict(IMAGES), pulled.predict(IMAGES)
    assert np.array_equal(ours.probabilities, theirs.probabilities) and ours.labels == theirs.labels  # exact

    server.stop()  # later loads come from the cache, without the network
    assert load_package("alice/lenet5-digits:v1").path == pulled.path


def test_latest_resolves_through_the_index_then_the_cache(package, tmp_path, registry, monkeypatch):
    root, server = registry
    push(package, "alice/lenet", registry=str(root))  # no tag → v1
    second = push(make_package(tmp_path / "pkg2", seed=1), "alice/lenet", registry=str(root))
    assert second["name"] == "alice/lenet:v2"
    monkeypatch.setenv("SHENDU_HUB", server.url)
    result = pull("alice/lenet")
    assert result["name"] == "alice/lenet:v2" and result["cached"] is False
    assert pull("alice/lenet")["cached"] is True  # same archive: nothing downloaded again
    server.stop()
    assert load_package("alice/lenet").path.name == "v2"  # latest from the cache, offline
    listed = list_models()
    assert listed["registries"][0]["ok"] is False  # the server is gone: reported, not fatal
    assert listed["models"] == [{"name": "alice/lenet", "latest": None, "tags": ["v2"], "registry": None,
                                 "summary": {}, "cached": ["v2"]}]


def test_push_rules(package, registry, tmp_path):
    root, server = registry
    first = push(package, "alice/m:v1", registry=str(root))
    again = push(package, "alice/m:v2", registry=str(root))
    assert again["sha256"] == first["sha256"]  # archives are deterministic
    with pytest.raises(BadInputError, match=r"alice/m:v1 already exists in .*pass --force"):
        push(package, "alice/m:v1", registry=str(root))
    other = make_package(tmp_path / "other", seed=3)
    assert push(other, "alice/m:v1", registry=str(root), force=True)["sha256"] != first["sha256"]
    with pytest.raises(BadInputError, match="cannot push to the tag 'latest'"):
        push(package, "alice/m:latest", registry=str(root))
    with pytest.raises(BadInputError, match="push writes to a registry directory only"):
        push(package, "alice/m:v3", registry=server.url)
    assert push(package, registry=str(root))["name"] == "local/lenet5-digits:v1"  # default name
    with pytest.raises(PackageError, match="no model package at"):
        push(tmp_path / "nowhere", "alice/m:v9", registry=str(root))


def test_concurrent_pushes_keep_every_tag(package, tmp_path):
    root = tmp_path / "registry"
    errors: list[BaseException] = []

    def one(tag: str) -> None:
        try:
            push(package, f"alice/m:{tag}", registry=str(root))
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(f"t{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    tags = json.loads((root / "index.json").read_text())["models"]["alice/m"]["tags"]
    assert sorted(tags) == [f"t{i}" for i in range(6)]
    assert not (root / "index.json.lock").exists() and not list(root.glob(".*part"))


def test_lock_of_a_dead_process_is_taken_over(package, tmp_path):
    root = tmp_path / "registry"
    root.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket

    (root / "index.json.lock").write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname()}))
    assert push(package, "alice/m:v1", registry=str(root))["name"] == "alice/m:v1"
    assert not (root / "index.json.lock").exists()


# --------------------------------------------------------------------------------------------- refusals


def test_tampered_archive_is_rejected_and_not_cached(package, registry, monkeypatch):
    root, server = registry
    pushed = push(package, "alice/m:v1", registry=str(root))
    archive = Path(pushed["path"])
    tampered = _archive({"model.safetensors": _other_weights(package), "shendu.json": (package / "shendu.json")})
    archive.write_bytes(tampered)
    monkeypatch.setenv("SHENDU_HUB", server.url)
    with pytest.raises(ChecksumError) as caught:
        load_package("alice/m:v1")
    message = str(caught.value)
    assert f"{server.url}/alice/m/v1.tar.gz" in message
    assert f"expected sha256 {pushed['sha256']}" in message
    assert f"received sha256 {hashlib.sha256(tampered).hexdigest()}" in message
    assert not (cache_root() / "alice" / "m" / "v1").exists() and not _leftovers(cache_root())


def _other_weights(package: Path) -> bytes:
    state = load_file(str(package / "model.safetensors"))
    state["classifier.4.bias"] = state["classifier.4.bias"] + 1.0
    buffer = package.parent / "evil.safetensors"
    save_file(state, str(buffer))
    return buffer.read_bytes()


def _archive(members: dict[str, bytes | Path], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in members.items():
            data = content.read_bytes() if isinstance(content, Path) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buffer.getvalue()


def _publish(root: Path, repo: str, tag: str, data: bytes) -> None:
    """Put a hand-made archive into a registry with a correct sha256 (a malicious but consistent registry)."""
    relative = f"{repo}/{tag}.tar.gz"
    (root / relative).parent.mkdir(parents=True, exist_ok=True)
    (root / relative).write_bytes(data)
    index_file = root / "index.json"
    index = json.loads(index_file.read_text()) if index_file.exists() else {"schema": "shendu.hub/1", "models": {}}
    index["models"][repo] = {"latest": tag, "tags": {tag: {"archive": relative, "size": len(data),
                                                            "sha256": hashlib.sha256(data).hexdigest()}}}
    index_file.write_text(json.dumps(index))


@pytest.mark.parametrize("extra, links, expected", [
    ({"../evil.txt": b"x"}, None, r"member '\.\./evil\.txt' climbs out of the package directory"),
    ({"model.pkl": b"\x80\x04K\x01."}, None, r"member 'model\.pkl' looks like a pickle"),
    ({"/etc/evil": b"x"}, None, r"member '/etc/evil' is an absolute path"),
    ({}, {"README.md": "/etc/passwd"}, r"member 'README\.md' is a symbolic link"),
    ({"notes.txt": b"x"}, None, r"member 'notes\.txt' is not part of a package"),
])
def test_unsafe_archives_are_rejected(package, registry, monkeypatch, extra, links, expected):
    root, server = registry
    members = {"model.safetensors": package / "model.safetensors", "shendu.json": package / "shendu.json", **extra}
    _publish(root, "mallory/m", "v1", _archive(members, links))
    monkeypatch.setenv("SHENDU_HUB", server.url)
    with pytest.raises(UnsafeArchiveError, match=expected) as caught:
        pull("mallory/m:v1")
    assert "nothing was cached" in str(caught.value)
    assert not (cache_root() / "mallory" / "m" / "v1").exists() and not _leftovers(cache_root())
    assert not (root.parent / "evil.txt").exists() and not (cache_root() / "mallory" / "evil.txt").exists()


def test_archive_with_a_broken_package_is_rejected(package, tmp_path, monkeypatch):
    root = tmp_path / "registry"
    meta = json.loads((package / "shendu.json").read_text())
    meta["model"]["num_classes"] = 5  # the weights say 10
    members = {"model.safetensors": package / "model.safetensors", "shendu.json": json.dumps(meta).encode()}
    _publish(root, "mallory/m", "v1", _archive(members))
    with pytest.raises(PackageError, match=r"holds a broken package \(nothing was cached\).*classifier\.4\.weight"):
        pull("mallory/m:v1", registry=str(root))
    assert not (cache_root() / "mallory" / "m" / "v1").exists()


# ------------------------------------------------------------------------------------------ registries


def test_registry_order_first_wins(tmp_path, monkeypatch):
    mirror, origin = tmp_path / "mirror", tmp_path / "origin"
    a = push(make_package(tmp_path / "a", seed=1), "alice/m:v1", registry=str(mirror))
    b = push(make_package(tmp_path / "b", seed=2), "alice/m:v1", registry=str(origin))
    only_origin = push(make_package(tmp_path / "c", seed=3), "bob/n:v1", registry=str(origin))
    dead = "http://127.0.0.1:9"  # the discard port: nothing listens there
    monkeypatch.setenv("SHENDU_HUB", f"{dead}, {mirror},{origin}")
    assert pull("alice/m:v1")["sha256"] == a["sha256"] != b["sha256"]
    assert pull("bob/n:v1")["registry"] == str(origin)  # missing from the mirror → the next registry
    assert pull("bob/n:v1")["sha256"] == only_origin["sha256"]
    monkeypatch.setenv("SHENDU_HUB", f"{origin},{mirror}")
    swapped = pull("alice/m:v1")
    assert swapped["sha256"] == b["sha256"] and swapped["cached"] is False  # a different archive: downloaded
    assert list_models()["models"][0]["registry"] == str(origin)
    assert info("alice/m")["sha256"] == b["sha256"]


def test_a_bad_mirror_falls_back_to_a_good_registry_with_a_warning(package, tmp_path):
    mirror, origin = tmp_path / "mirror", tmp_path / "origin"
    pushed = push(package, "alice/m:v1", registry=str(origin))
    push(package, "alice/m:v1", registry=str(mirror))
    (mirror / "alice" / "m" / "v1.tar.gz").write_bytes(b"corrupted")
    with pytest.warns(UserWarning, match="served a bad archive"):
        result = pull("alice/m:v1", registry=[str(mirror), str(origin)])
    assert result["registry"] == str(origin) and result["sha256"] == pushed["sha256"]


def test_not_found_and_unreachable_messages(package, tmp_path, monkeypatch):
    root = tmp_path / "registry"
    push(package, "alice/lenet5:v1", registry=str(root))
    monkeypatch.setenv("SHENDU_HUB", str(root))
    with pytest.raises(HubNotFoundError, match=r"no model 'alice/lenet6' — did you mean 'alice/lenet5'\?"):
        load_package("alice/lenet6")
    with pytest.raises(HubNotFoundError, match=r"alice/lenet5 has no tag 'v7' \(tags: v1\)"):
        pull("alice/lenet5:v7")
    monkeypatch.setenv("SHENDU_HUB", "http://127.0.0.1:9")
    with pytest.raises(HubError, match=r"no registry could be read:\n  http://127.0.0.1:9 — .*cannot read index\.json"):
        pull("alice/lenet5:v1")


@pytest.mark.parametrize("name", ["alice/", "/m", "alice/m:", "alice/m:v1:v2", "al ice/m:v1", "alice/..:v1",
                                  "alice/-m:v1", "alice/m:v 1"])
def test_bad_names_say_the_expected_form(name):
    with pytest.raises(BadInputError, match=r"bad hub name .*expected user/model\[:tag\]"):
        parse_name(name)


def test_load_package_name_resolution(package, monkeypatch, tmp_path):
    with pytest.raises(BadInputError, match=r"bad hub name 'alice/m:v 1': expected user/model\[:tag\]"):
        load_package("alice/m:v 1")
    assert parse_name("alice/m") == parse_name("alice/m:latest")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "alice").mkdir()
    make_package(tmp_path / "alice" / "m")
    assert load_package("alice/m").path == Path("alice/m")  # an existing path wins over the hub name


# ------------------------------------------------------------------------------------------ integrity


def _rewrite_weights(package: Path, state: dict[str, torch.Tensor]) -> None:
    """Replace the weights and record their new checksum: a consistent package that does not fit its model."""
    save_file(state, str(package / "model.safetensors"))
    meta = json.loads((package / "shendu.json").read_text())
    meta["weights"]["sha256"] = hashlib.sha256((package / "model.safetensors").read_bytes()).hexdigest()
    (package / "shendu.json").write_text(json.dumps(meta))


def test_integrity_missing_extra_and_misshapen_tensors(package):
    state = load_file(str(package / "model.safetensors"))
    del state["features.0.bias"]
    state["classifier.4.weight"] = torch.zeros(5, 84)
    state["head.extra"] = torch.zeros(3)
    _rewrite_weights(package, state)
    with pytest.raises(PackageError) as caught:
        load_package(package)
    message = str(caught.value)
    assert "classifier.4.weight is (5, 84) in the file but lenet5 expects (10, 84)" in message
    assert "missing tensor features.0.bias" in message and "unexpected tensor head.extra" in message


def test_integrity_bad_checksum_and_unreadable_weights(package):
    weights = package / "model.safetensors"
    expected = hashlib.sha256(weights.read_bytes()).hexdigest()
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # one flipped bit pattern in the last tensor
    weights.write_bytes(bytes(data))
    received = hashlib.sha256(bytes(data)).hexdigest()
    with pytest.raises(PackageError, match=f"fails its checksum: expected sha256 {expected}, received sha256 "
                                           f"{received}"):
        load_package(package)
    weights.write_bytes(b"not safetensors at all")
    meta = json.loads((package / "shendu.json").read_text())
    del meta["weights"]  # a package written before checksums were recorded
    (package / "shendu.json").write_text(json.dumps(meta))
    with pytest.raises(PackageError, match="model.safetensors is not a readable safetensors file"):
        load_package(package)


# ------------------------------------------------------------------------------------------------ CLI


@pytest.fixture
def cli():
    """`shendu.cli.main`, with the hub group added if the top-level app does not register it yet."""
    from shendu.cli import app, hub, main

    if not any(group.name == "hub" for group in app.registered_groups):
        app.add_typer(hub.app, name="hub", help=hub.HELP)
    return main


def _last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_cli_push_pull_list_info(cli, package, registry, capsys, monkeypatch):
    root, server = registry
    assert cli(["hub", "push", str(package), "--name", "alice/m:v1", "--registry", str(root), "--json"]) == 0
    pushed = _last_json(capsys)
    assert pushed["name"] == "alice/m:v1" and len(pushed["sha256"]) == 64
    monkeypatch.setenv("SHENDU_HUB", server.url)
    assert cli(["hub", "pull", "alice/m", "--json"]) == 0
    pulled = _last_json(capsys)
    assert pulled["name"] == "alice/m:v1" and pulled["sha256"] == pushed["sha256"] and Path(pulled["path"]).is_dir()
    assert cli(["hub", "list", "--json"]) == 0
    listed = _last_json(capsys)
    assert [m["name"] for m in listed["models"]] == ["alice/m"] and listed["models"][0]["cached"] == ["v1"]
    assert cli(["hub", "info", "alice/m:v1", "--json"]) == 0
    shown = _last_json(capsys)
    assert shown["sha256"] == pushed["sha256"] and shown["cached"] == pulled["path"]
    assert cli(["hub", "list"]) == 0 and "alice/m" in capsys.readouterr().out
    assert cli(["hub", "info", "alice/m"]) == 0 and pushed["sha256"][:16] in capsys.readouterr().out
    image = Path(pulled["path"]).parent / "digit.png"
    from PIL import Image

    Image.fromarray(IMAGES[0, 0].numpy(), mode="L").save(image)
    assert cli(["predict", "alice/m:v1", str(image), "--json"]) == 0  # hub names work where package paths do
    expected = load_package(package).predict(IMAGES[:1]).to_json()[0]
    predicted = _last_json(capsys)["predictions"][0]
    assert predicted["label"] == expected["label"] and predicted["probability"] == expected["probability"]


def test_cli_errors_exit_codes(cli, package, registry, capsys, monkeypatch):
    root, server = registry
    assert cli(["hub", "pull", "alice"]) == 2
    assert "expected user/model[:tag]" in capsys.readouterr().err
    push(package, "alice/m:v1", registry=str(root))
    (root / "alice" / "m" / "v1.tar.gz").write_bytes(b"tampered")
    assert cli(["hub", "pull", "alice/m:v1", "--registry", server.url]) == 1
    assert "fails its checksum" in capsys.readouterr().err
