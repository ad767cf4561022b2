"""The downloader against loopback HTTP servers: mirrors, canonical URLs, corrupt and missing files."""
from __future__ import annotations

import dataclasses
import shutil
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pytest

from shendu.data import DATASETS, dataset_info, download, load_dataset
from shendu.data import _download
from shendu.data._download import cache_dir
from shendu.errors import BadInputError, ChecksumError, DataMissingError

MNIST_FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
               "t10k-labels-idx1-ubyte.gz"]
LABELS = "t10k-labels-idx1-ubyte.gz"


def _point_mnist_at(monkeypatch: pytest.MonkeyPatch, *bases: str) -> None:
    """Replace MNIST's canonical URLs (the registered info) by loopback ones for this test."""
    info = dataset_info("mnist")
    files = tuple(dataclasses.replace(f, urls=tuple(f"{b}/mnist/{f.filename}" for b in bases)) for f in info.files)
    monkeypatch.setitem(DATASETS._meta["mnist"], "info", dataclasses.replace(info, files=files))


def _no_part_files(folder: Path) -> bool:
    return not list(folder.glob("*.part")) if folder.exists() else True


def test_http_mirror_downloads_into_the_cache_once(shared_data: Path, serve) -> None:
    server = serve(shared_data)
    paths = download("mnist", mirror=server.url, progress=True)
    cache = cache_dir(dataset_info("mnist"))
    assert paths == [cache / name for name in MNIST_FILES] and all(p.is_file() for p in paths)
    assert sorted(server.requests) == sorted(f"/mnist/{name}" for name in MNIST_FILES)
    assert _no_part_files(cache)
    assert download("mnist", mirror=server.url, progress=False) == paths
    test = load_dataset("mnist", "test", mirror=server.url, progress=False)
    assert len(server.requests) == 4  # the second download and the load were served from the cache
    assert test.y[:5].tolist() == [7, 2, 1, 0, 4]


def test_canonical_urls_are_tried_in_order(shared_data: Path, serve, closed_port_url: str, no_mirror,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    server = serve(shared_data)
    _point_mnist_at(monkeypatch, closed_port_url, server.url)
    paths = download("mnist", progress=False)
    assert [p.name for p in paths] == MNIST_FILES and len(server.requests) == 4
    assert _no_part_files(paths[0].parent)


def test_a_bad_cached_copy_is_replaced(shared_data: Path, serve) -> None:
    server = serve(shared_data)
    cache = cache_dir(dataset_info("mnist"))
    cache.mkdir(parents=True)
    (cache / LABELS).write_bytes(b"garbage")
    for name in MNIST_FILES[:3]:
        shutil.copy(shared_data / "mnist" / name, cache / name)
    download("mnist", mirror=server.url, progress=False)
    assert server.requests == [f"/mnist/{LABELS}"]
    assert (cache / LABELS).read_bytes() == (shared_data / "mnist" / LABELS).read_bytes()


def test_a_corrupt_download_is_not_kept(shared_data: Path, serve, tmp_path: Path) -> None:
    mirror = tmp_path / "served"
    shutil.copytree(shared_data / "mnist", mirror / "mnist")
    good = (mirror / "mnist" / LABELS).read_bytes()
    (mirror / "mnist" / LABELS).write_bytes(good[: len(good) // 2])  # truncated
    server = serve(mirror)
    with pytest.raises(ChecksumError) as err:
        download("mnist", mirror=server.url, progress=False)
    message = str(err.value)
    assert LABELS in message and f"{server.url}/mnist/{LABELS}" in message
    assert "expected sha256 f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6" in message
    assert "not kept" in message
    cache = cache_dir(dataset_info("mnist"))
    assert not (cache / LABELS).exists() and _no_part_files(cache)


def test_a_corrupt_file_in_a_local_mirror_is_reported_not_deleted(shared_data: Path, tmp_path: Path) -> None:
    shutil.copytree(shared_data / "mnist", tmp_path / "mnist")
    bad = tmp_path / "mnist" / LABELS
    bad.write_bytes(b"\x1f\x8b garbled")
    with pytest.raises(ChecksumError, match=rf"{LABELS} from the mirror folder .*expected sha256 f7ae60f9.*"
                                            r"left in place"):
        load_dataset("mnist", mirror=str(tmp_path), progress=False)
    assert bad.read_bytes() == b"\x1f\x8b garbled"


def test_offline_without_a_mirror_is_one_clear_error(closed_port_url: str, no_mirror,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _point_mnist_at(monkeypatch, closed_port_url)
    with pytest.raises(DataMissingError) as err:
        load_dataset("mnist", progress=False)
    message = str(err.value)
    assert all(name in message for name in MNIST_FILES)
    assert f"{closed_port_url}/mnist/{MNIST_FILES[0]} — " in message and "refused" in message.lower()
    assert "mirror: none set" in message and "SHENDU_DATA_MIRROR" in message
    assert "shendu data download mnist" in message
    assert _no_part_files(cache_dir(dataset_info("mnist")))


def test_download_false_never_touches_the_network(shared_data: Path, serve, no_mirror,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    server = serve(shared_data)
    _point_mnist_at(monkeypatch, server.url)
    with pytest.raises(DataMissingError, match=r"downloads: off \(download=False\)"):
        load_dataset("mnist", download=False, progress=False)
    assert server.requests == []


def test_a_missing_local_mirror_folder_is_named(tmp_path: Path, closed_port_url: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _point_mnist_at(monkeypatch, closed_port_url)
    with pytest.raises(DataMissingError, match=r"mirror: .*nowhere — looked in .*nowhere/mnist \(that folder does "
                                               r"not exist\)"):
        download("mnist", mirror=str(tmp_path / "nowhere"), progress=False)


class _DropsHalfway(SimpleHTTPRequestHandler):
    """Announces the full length, sends a few bytes, hangs up: an interrupted transfer."""

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self.wfile.write(b"\x1f\x8b" + bytes(100))
        self.wfile.flush()
        self.close_connection = True


def test_an_interrupted_transfer_leaves_no_part_file(tmp_path: Path, serve, no_mirror,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    server = serve(tmp_path, _DropsHalfway)
    _point_mnist_at(monkeypatch, server.url)
    with pytest.raises(DataMissingError, match=r"connection closed after 102 of 100,000 bytes"):
        download("mnist", progress=False)
    assert _no_part_files(cache_dir(dataset_info("mnist")))


def test_ctrl_c_during_a_download_leaves_no_part_file(shared_data: Path, serve,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    server = serve(shared_data)

    def interrupted(url, part, remote, progress):
        part.write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(_download, "_stream", interrupted)
    with pytest.raises(KeyboardInterrupt):
        download("mnist", mirror=server.url, progress=False)
    cache = cache_dir(dataset_info("mnist"))
    assert _no_part_files(cache) and not list(cache.iterdir())


def test_file_url_mirror_and_bad_mirror_schemes(shared_data: Path) -> None:
    paths = download("mnist", mirror=shared_data.as_uri(), progress=False)
    assert paths[0] == shared_data / "mnist" / MNIST_FILES[0]
    with pytest.raises(BadInputError, match=r"expected a local folder or an http\(s\):// URL, received a ftp://"):
        download("mnist", mirror="ftp://example.org/data", progress=False)
