"""The model hub: share packages through registries that are plain static files.

A registry is a local directory or an http(s) URL (any static web server can host one):

    <registry>/index.json                     {"schema": "shendu.hub/1", "models": {"user/model": {
                                                  "tags": {"v1": {"archive": "user/model/v1.tar.gz",
                                                  "sha256": "…", "size": N, "created": "…",
                                                  "summary": {...}}}, "latest": "v1"}}}
    <registry>/user/model/v1.tar.gz           the package directory: model.safetensors + shendu.json
                                              (+ README.md), nothing else

`push` writes to a local-directory registry only (an atomic index update under a lock file); `pull`
downloads an archive, checks its sha256 against the index, refuses anything that is not a plain
package (pickles, links, absolute or `..` paths), checks the package loads, and only then moves it
into the cache `SHENDU_HOME/hub/<user>/<model>/<tag>/`. `SHENDU_HUB` lists registries, comma-separated,
tried in order (put a mirror first); the default is the directory `SHENDU_HOME/hub-registry`.
"""
from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import socket
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

from shendu import _settings
from shendu._files import sha256_file as _sha256
from shendu._version import __version__
from shendu.errors import BadInputError, ChecksumError, PackageError, ShenduError

SCHEMA = "shendu.hub/1"
INDEX = "index.json"
WEIGHTS, META, README = "model.safetensors", "shendu.json", "README.md"
ALLOWED = (WEIGHTS, META, README)
ORIGIN = ".hub-origin.json"  # where a cached package came from (never part of an archive)
TIMEOUT = 30.0  # seconds without data before a registry counts as unreachable
LOCK_TIMEOUT = 30.0  # seconds a push waits for another push to finish
MAX_UNPACKED = 8 << 30  # bytes: a larger archive is refused (a gzip bomb would otherwise fill the disk)
PICKLE_SUFFIXES = (".pkl", ".pickle", ".pt", ".pth", ".ckpt", ".bin", ".joblib", ".npy", ".npz")
NAME_FORM = "user/model[:tag] — letters, digits, '.', '_' and '-', each part starting with a letter or digit " \
            "(e.g. alice/lenet5-digits:v1; the tag defaults to 'latest')"
_PART = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"
_NAME = re.compile(rf"^(?P<user>{_PART})/(?P<model>{_PART})(?::(?P<tag>{_PART}))?$")


class HubError(ShenduError):
    """A registry could not be read or written (unreachable, malformed index, locked)."""


class UnsafeArchiveError(HubError):
    """An archive holds something a package must not: pickles, links, paths outside the package."""


class HubNotFoundError(PackageError):
    """No registry (nor the cache) has the name; the message lists what each registry said."""


@dataclass(frozen=True)
class HubName:
    """A parsed `user/model[:tag]`."""

    user: str
    model: str
    tag: str = "latest"

    @property
    def repo(self) -> str:
        """"user/model", the key of the registry index."""
        return f"{self.user}/{self.model}"

    def with_tag(self, tag: str) -> "HubName":
        return HubName(self.user, self.model, tag)

    def __str__(self) -> str:
        return f"{self.repo}:{self.tag}"


def parse_name(text: str) -> HubName:
    """`user/model[:tag]` → HubName; anything else is a BadInputError showing the expected form."""
    match = _NAME.match(text.strip()) if isinstance(text, str) else None
    if match is None or ".." in text:
        raise BadInputError(f"bad hub name {text!r}: expected {NAME_FORM}")
    return HubName(match["user"], match["model"], match["tag"] or "latest")


def looks_like_name(text: str) -> bool:
    """Whether a string that is not an existing path was meant as a hub name (then it is parsed strictly).

    `user/model`, `user/model:tag`, or anything with a ':' that is not a Windows drive; paths that start
    with '.', '/', '~' or hold more than one '/' are paths.
    """
    if not text or text[0] in "./~\\" or re.match(r"^[A-Za-z]:[\\/]", text):
        return False
    return ":" in text or text.count("/") == 1


def registries(explicit: str | Sequence[str] | None = None) -> list[str]:
    """The registries to use, in order: `explicit`, else SHENDU_HUB (comma-separated), else the default
    local directory `SHENDU_HOME/hub-registry`."""
    if explicit is None:
        explicit = os.environ.get("SHENDU_HUB") or str(_settings.home() / "hub-registry")
    items = explicit.split(",") if isinstance(explicit, str) else list(explicit)
    found = [str(item).strip() for item in items if str(item).strip()]
    if not found:
        raise BadInputError("no hub registry given: expected a directory or an http(s) URL (or a comma-separated "
                            "list in SHENDU_HUB)")
    return found


def cache_root() -> Path:
    """`SHENDU_HOME/hub`, where pulled packages live as `<user>/<model>/<tag>/`."""
    return _settings.subdir("hub")


def cached_path(name: str | HubName) -> Path | None:
    """The cached package directory of `name` without touching the network, or None.

    `latest` means the tag that the last `pull` of the untagged name resolved to.
    """
    hub_name = parse_name(name) if isinstance(name, str) else name
    folder = cache_root() / hub_name.user / hub_name.model
    tag = hub_name.tag
    if tag == "latest":
        try:
            tag = json.loads((folder / "latest.json").read_text(encoding="utf-8"))["tag"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
    path = folder / tag
    return path if (path / META).is_file() and (path / WEIGHTS).is_file() else None


def resolve(name: str) -> Path:
    """The package directory of a hub name: the cache if it holds it, else pulled through the registries."""
    hub_name = parse_name(name)
    cached = cached_path(hub_name)
    return cached if cached is not None else Path(pull(str(hub_name))["path"])


# ------------------------------------------------------------------------------------------------ sources


class _Source:
    """One registry: a local directory or an http(s) base URL."""

    def __init__(self, location: str) -> None:
        self.location = location
        scheme = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://", location)
        kind = scheme.group(1).lower() if scheme else ""
        if kind in ("http", "https"):
            self.url, self.root = location.rstrip("/"), None
        elif kind == "file":
            self.url, self.root = None, Path(urllib.request.url2pathname(urllib.parse.urlparse(location).path))
        elif not kind:
            self.url, self.root = None, Path(location).expanduser()
        else:
            raise BadInputError(f"hub registry {location!r}: expected a directory or an http(s):// URL, "
                                f"received a {kind}:// URL")

    def where(self, relative: str) -> str:
        """The URL or path of a file in this registry, for messages."""
        if self.url:
            return f"{self.url}/{urllib.parse.quote(relative)}"
        return str(self.root / relative)  # type: ignore[operator]

    def index(self) -> dict[str, Any]:
        """The parsed index (an empty one for a local directory without index.json yet)."""
        try:
            if self.root is not None:
                if not (self.root / INDEX).is_file():
                    return {"schema": SCHEMA, "models": {}}
                text = (self.root / INDEX).read_bytes()
            else:
                with _open_url(self.where(INDEX)) as response:
                    text = response.read()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise HubError(f"registry {self.location}: cannot read {INDEX} ({_reason(exc)})") from None
        return _parse_index(text, self.where(INDEX))

    def download(self, relative: str, dest: Path, progress: bool) -> None:
        """Copy the file `relative` into `dest`."""
        if self.root is not None:
            shutil.copyfile(self.root / relative, dest)
            return
        with _open_url(self.where(relative)) as response, open(dest, "wb") as out:
            announced = int(response.headers.get("Content-Length") or 0)
            received = 0
            with _progress(progress, relative, announced) as advance:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    received += len(chunk)
                    advance(len(chunk))
        if announced and received < announced:
            raise OSError(f"connection closed after {received:,} of {announced:,} bytes")


def _open_url(url: str) -> Any:
    request = urllib.request.Request(url, headers={"User-Agent": f"shendu/{__version__}"})
    return urllib.request.urlopen(request, timeout=TIMEOUT)


def _parse_index(text: bytes, where: str) -> dict[str, Any]:
    try:
        index = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HubError(f"{where} is not valid JSON ({exc}); expected a shendu hub index") from None
    if not isinstance(index, dict) or index.get("schema") != SCHEMA or not isinstance(index.get("models"), dict):
        schema = index.get("schema") if isinstance(index, dict) else type(index).__name__
        raise HubError(f"{where}: expected a shendu hub index with schema {SCHEMA!r} and a 'models' object, "
                       f"received schema {schema!r}")
    return index


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"timed out after {TIMEOUT:g} s" if isinstance(exc.reason, TimeoutError) else str(exc.reason)
    if isinstance(exc, TimeoutError):
        return f"timed out after {TIMEOUT:g} s"
    return f"{type(exc).__name__}: {exc}"


@contextmanager
def _progress(enabled: bool, label: str, total: int) -> Iterator[Any]:
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    columns = (TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(label, total=total or None)
        yield lambda n: bar.advance(task, n)


# --------------------------------------------------------------------------------------------------- push


def push(package: str | Path, name: str | None = None, *, registry: str | None = None,
         force: bool = False) -> dict[str, Any]:
    """Publish a package to a local-directory registry.

    Args:
        package: a package directory, or anything `load_package` accepts (a hub name re-publishes a
            cached package, e.g. to fill a mirror).
        name: `user/model[:tag]`; without a tag the next free `vN` is used. Default: the hub name given
            as `package`, else `local/<model>-<dataset>`.
        registry: the registry directory; default the first of SHENDU_HUB (which must be a directory).
        force: replace an existing tag (otherwise that is an error).

    Returns:
        The new index entry with `name` (user/model:tag), `registry` and the archive's `path`.
    """
    from shendu.hub._package import load_package

    predictor = load_package(package)  # publish only packages that load and pass their integrity checks
    hub_name = _push_name(package, name, predictor.meta)
    root = _push_root(registry)
    root.mkdir(parents=True, exist_ok=True)
    part, sha, size = _pack(predictor.path, root)
    try:
        with _locked(root):
            index = _Source(str(root)).index()
            entry = index["models"].setdefault(hub_name.repo, {"tags": {}, "latest": None})
            tag = hub_name.tag if hub_name.tag != "latest" else _next_tag(entry["tags"])
            if tag in entry["tags"] and not force:
                raise BadInputError(f"{hub_name.repo}:{tag} already exists in {root} (sha256 "
                                    f"{entry['tags'][tag]['sha256']}); pass --force to replace it or choose "
                                    "another tag")
            relative = f"{hub_name.repo}/{tag}.tar.gz"
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            os.replace(part, root / relative)
            record = {"archive": relative, "sha256": sha, "size": size,
                      "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                      "summary": summary(predictor.meta)}
            entry["tags"][tag] = record
            entry["latest"] = tag
            _write_json(root / INDEX, index)
    finally:
        part.unlink(missing_ok=True)
    return {"name": f"{hub_name.repo}:{tag}", "registry": str(root), "path": str(root / relative), **record}


def _push_name(package: str | Path, name: str | None, meta: dict[str, Any]) -> HubName:
    if name is not None:
        hub_name = parse_name(name)
        if name.strip().endswith(":latest"):
            raise BadInputError(f"cannot push to the tag 'latest' ({name!r}): it always points at the most recently "
                                "pushed tag; push user/model:vN, or leave the tag out for the next free vN")
        return hub_name
    if isinstance(package, str) and not Path(package).expanduser().exists() and looks_like_name(package):
        return parse_name(package)
    model, dataset = meta["model"]["name"], (meta.get("dataset") or {}).get("name")
    return parse_name(f"local/{model}-{dataset}" if dataset else f"local/{model}")


def _push_root(registry: str | None) -> Path:
    location = registry if registry is not None else registries()[0]
    source = _Source(location)
    if source.root is None:
        raise BadInputError(f"cannot push to {location}: push writes to a registry directory only (expected a "
                            "local path). Push to a directory with --registry DIR, then serve or copy that "
                            "directory to the web server")
    return source.root


def _next_tag(tags: dict[str, Any]) -> str:
    numbers = [int(tag[1:]) for tag in tags if re.fullmatch(r"v\d+", tag)]
    return f"v{max(numbers, default=0) + 1}"


def summary(meta: dict[str, Any]) -> dict[str, Any]:
    """What the index shows about a package: model, dataset, classes, input shape and final metrics."""
    metrics = {key: value.get("final") if isinstance(value, dict) else value
               for key, value in (meta.get("metrics") or {}).items()}
    return {"model": meta["model"]["name"], "dataset": (meta.get("dataset") or {}).get("name"),
            "classes": list(meta.get("classes", [])),
            "input_shape": list((meta.get("preprocessing") or {}).get("input_shape", [])), "metrics": metrics}


def _pack(package_dir: Path, root: Path) -> tuple[Path, str, int]:
    """A deterministic tar.gz of the package's allowed files (same package → same sha256)."""
    handle, name = tempfile.mkstemp(prefix=".push.", suffix=".tar.gz.part", dir=root)
    os.close(handle)
    part = Path(name)
    try:
        with open(part, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped, \
                tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for member in ALLOWED:
                path = package_dir / member
                if not path.is_file():
                    continue
                info = tarfile.TarInfo(member)
                info.size, info.mode, info.mtime = path.stat().st_size, 0o644, 0
                with open(path, "rb") as data:
                    tar.addfile(info, data)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return part, _sha256(part), part.stat().st_size


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Exclusive access to a registry's index across processes: `index.json.lock`, created with O_EXCL.

    A lock left by a dead process on this host is taken over; any other lock is waited on for
    LOCK_TIMEOUT seconds.
    """
    lock = root / f"{INDEX}.lock"
    deadline = time.monotonic() + LOCK_TIMEOUT
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            if _stale(lock):
                lock.unlink(missing_ok=True)
            elif time.monotonic() > deadline:
                raise HubError(f"registry {root} is locked by another push ({lock}: {_read_lock(lock)}); wait for "
                               "it to finish, or delete the lock file if no push is running") from None
            else:
                time.sleep(0.05)
    try:
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}).encode())
        os.close(fd)
        yield
    finally:
        lock.unlink(missing_ok=True)


def _read_lock(lock: Path) -> dict[str, Any]:
    try:
        value = json.loads(lock.read_text(encoding="utf-8"))
        return value if isinstance(value, dict) else {}
    except (OSError, ValueError):
        return {}


def _stale(lock: Path) -> bool:
    """A lock whose process is gone (same host), or an unreadable one older than a minute."""
    owner = _read_lock(lock)
    if owner.get("host") == socket.gethostname() and isinstance(owner.get("pid"), int):
        try:
            os.kill(owner["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    try:
        return not owner and time.time() - lock.stat().st_mtime > 60
    except OSError:
        return False


def _write_json(path: Path, value: Any) -> None:
    """Write atomically: readers (a web server, a concurrent pull) see the old file or the new one."""
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(value, out, indent=2, ensure_ascii=False, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(name, 0o644)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------------------------- pull


def pull(name: str, *, registry: str | Sequence[str] | None = None, force: bool = False,
         progress: bool = False) -> dict[str, Any]:
    """Download a package into the hub cache, trying the registries in order (the first that has it wins).

    Args:
        name: `user/model[:tag]`; "latest" (the default) is resolved through the registry's index.
        registry: registries to use instead of SHENDU_HUB (one location or several).
        force: download again even when the cache already holds this exact archive.
        progress: show a progress bar for http downloads.

    Returns:
        `name` (user/model:tag), `path` (the cached package directory), `registry`, `archive`, `sha256`,
        `size`, `created`, `summary` and `cached` (True when nothing had to be downloaded).

    Raises:
        ChecksumError: the archive does not match the sha256 in the index (it is deleted, nothing is cached).
        UnsafeArchiveError: the archive holds something other than a plain package.
        PackageError: no registry has the name, or the package fails its integrity checks.
        HubError: no registry could be read.
    """
    hub_name = parse_name(name)
    tried: list[str] = []
    rejected: list[ShenduError] = []
    answered = False
    for location in registries(registry):
        source = _Source(location)
        try:
            found = _lookup(source.index(), hub_name)
        except HubError as exc:
            tried.append(f"{location} — {exc}")
            continue
        answered = True
        if isinstance(found, str):
            tried.append(f"{location} — {found}")
            continue
        try:
            result = _install(source, hub_name.with_tag(found[0]), found[1], force, progress)
        except (ChecksumError, UnsafeArchiveError, PackageError) as exc:  # bad content: a later registry may be good
            rejected.append(exc)
            tried.append(f"{location} — rejected: {exc}")
            continue
        except (HubError, urllib.error.URLError, OSError) as exc:
            tried.append(f"{location} — {_reason(exc)}")
            continue
        _pulled(hub_name, result, rejected)
        return result
    raise _pull_failure(hub_name, tried, rejected, answered)


def _pulled(hub_name: HubName, result: dict[str, Any], rejected: list[ShenduError]) -> None:
    """Remember what "latest" resolved to (for offline loads); warn about registries that served bad archives."""
    if hub_name.tag == "latest":
        _write_json(cache_root() / hub_name.user / hub_name.model / "latest.json",
                    {"tag": Path(result["path"]).name, "registry": result["registry"], "sha256": result["sha256"]})
    if rejected:
        warnings.warn(f"{hub_name}: {len(rejected)} registr{'y' if len(rejected) == 1 else 'ies'} served a bad "
                      f"archive before {result['registry']} served a good one: {rejected[0]}", stacklevel=3)


def _pull_failure(hub_name: HubName, tried: list[str], rejected: list[ShenduError], answered: bool) -> ShenduError:
    lines = "\n".join(f"  {line}" for line in tried)
    if rejected:
        first = rejected[0]
        return first if len(tried) == 1 else type(first)(f"{first}\nregistries tried:\n{lines}")
    if answered:
        return HubNotFoundError(f"hub model {hub_name} not found; registries tried (SHENDU_HUB, in order):\n{lines}\n"
                            "`shendu hub list` shows what they hold")
    return HubError(f"cannot pull {hub_name}: no registry could be read:\n{lines}\nCheck SHENDU_HUB (a directory or "
                    "an http(s) URL, comma-separated, mirrors first) and the network")


def _lookup(index: dict[str, Any], hub_name: HubName) -> tuple[str, dict[str, Any]] | str:
    """(tag, record) for the name in an index, or why not."""
    from shendu._registry import nearest

    models = index["models"]
    entry = models.get(hub_name.repo)
    if not isinstance(entry, dict) or not isinstance(entry.get("tags"), dict):
        close = nearest(hub_name.repo, list(models))
        hint = f" — did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        return f"no model {hub_name.repo!r}{hint} ({len(models)} model{'s' if len(models) != 1 else ''} there)"
    tag = entry.get("latest") if hub_name.tag == "latest" else hub_name.tag
    if tag not in entry["tags"]:
        return f"{hub_name.repo} has no tag {tag!r} (tags: {', '.join(sorted(entry['tags'])) or 'none'})"
    record = entry["tags"][tag]
    problem = _record_problem(record)
    return f"{hub_name.repo}:{tag} has a malformed index entry ({problem})" if problem else (tag, record)


def _record_problem(record: Any) -> str | None:
    if not isinstance(record, dict):
        return f"expected an object, received {type(record).__name__}"
    archive = record.get("archive")
    if not isinstance(archive, str) or not archive.endswith(".tar.gz") or archive.startswith(("/", "\\")) \
            or ".." in archive.replace("\\", "/").split("/") or re.match(r"^[A-Za-z]:", archive):
        return f"archive {archive!r} is not a relative path to a .tar.gz inside the registry"
    if not isinstance(record.get("sha256"), str) or not re.fullmatch(r"[0-9a-f]{64}", record["sha256"]):
        return f"sha256 {record.get('sha256')!r} is not 64 hex digits"
    return None


def _install(source: _Source, hub_name: HubName, record: dict[str, Any], force: bool,
             progress: bool) -> dict[str, Any]:
    """Download, verify and unpack one archive into the cache; nothing is kept unless all checks pass."""
    folder = cache_root() / hub_name.user / hub_name.model
    final, where = folder / hub_name.tag, source.where(record["archive"])
    result = {"name": str(hub_name), "path": str(final), "registry": source.location, "url": where, **record}
    if not force and (final / META).is_file() and _origin(final).get("sha256") == record["sha256"]:
        return {**result, "cached": True}
    folder.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{hub_name.tag}.", suffix=".tar.gz.part", dir=folder)
    os.close(handle)
    part, staging = Path(name), Path(tempfile.mkdtemp(prefix=f".{hub_name.tag}.", dir=folder))
    try:
        source.download(record["archive"], part, progress)
        received = _sha256(part)
        if received != record["sha256"]:
            raise ChecksumError(f"archive {where} fails its checksum: expected sha256 {record['sha256']}, received "
                                f"sha256 {received} ({part.stat().st_size:,} bytes; the index says "
                                f"{_bytes(record.get('size'))}). It changed after it was pushed (tampered with or "
                                "corrupted); it was deleted and nothing was cached")
        _extract(part, staging, where)
        _verify(staging, where)
        origin = {"name": str(hub_name), "registry": source.location, "url": where, "sha256": received,
                  "pulled": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        (staging / ORIGIN).write_text(json.dumps(origin, indent=2), encoding="utf-8")
        _place(staging, final)
    finally:
        part.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
    return {**result, "cached": False}


def _bytes(size: Any) -> str:
    return f"{size:,} bytes" if isinstance(size, int) else "no size"


def _extract(archive: Path, dest: Path, where: str) -> None:
    """Unpack the allowed members by hand (never `extractall`): every member is checked first."""
    import zlib

    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            names = _check_members(members, where)
            for member, name in zip(members, names):
                if name is None:
                    continue
                with tar.extractfile(member) as data, open(dest / name, "wb") as out:  # type: ignore[union-attr]
                    shutil.copyfileobj(data, out)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise UnsafeArchiveError(f"archive {where} is not a readable tar.gz ({exc}); nothing was cached") from None


def _check_members(members: list[tarfile.TarInfo], where: str) -> list[str | None]:
    """The file name of each member inside the package (None for a '.' entry), or UnsafeArchiveError."""
    names: list[str | None] = []
    total = 0
    for member in members:
        name, problem = _member_problem(member)
        if problem is None and name in names:
            problem = "appears twice"
        if problem is not None:
            raise UnsafeArchiveError(f"archive {where} was rejected (nothing was cached): member {member.name!r} "
                                     f"{problem}. A package archive holds only {', '.join(ALLOWED)} as plain files")
        total += member.size if name else 0
        names.append(name)
    if total > MAX_UNPACKED:
        raise UnsafeArchiveError(f"archive {where} unpacks to {total:,} bytes, over the {MAX_UNPACKED:,}-byte limit")
    for required in (WEIGHTS, META):
        if required not in names:
            raise UnsafeArchiveError(f"archive {where} holds no {required}; a package needs {WEIGHTS} and {META}")
    return names


def _member_problem(member: tarfile.TarInfo) -> tuple[str | None, str | None]:
    raw = member.name.replace("\\", "/")
    if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw):
        return None, "is an absolute path"
    if ".." in raw.split("/"):
        return None, "climbs out of the package directory ('..')"
    if member.issym() or member.islnk():
        return None, f"is a {'symbolic' if member.issym() else 'hard'} link (to {member.linkname!r})"
    name = raw[2:] if raw.startswith("./") else raw
    if member.isdir() and name.strip("/") in ("", "."):
        return None, None
    if not member.isfile():
        return None, "is not a regular file (a directory, device or fifo)"
    if name.lower().endswith(PICKLE_SUFFIXES) or "pickle" in name.lower():
        return None, "looks like a pickle (unpickling can run arbitrary code; packages hold safetensors and JSON)"
    if name not in ALLOWED:
        return None, f"is not part of a package ({'it is in a subdirectory' if '/' in name else 'unknown file'})"
    return name, None


def _verify(staging: Path, where: str) -> None:
    """The unpacked package must load: weights checksum, tensor names and shapes (see load_package)."""
    from shendu.hub._package import load_package

    try:
        load_package(staging)
    except PackageError as exc:
        raise PackageError(f"archive {where} holds a broken package (nothing was cached): {exc}") from None


def _place(staging: Path, final: Path) -> None:
    """Move a verified package into place; an older copy of the same tag is replaced."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old.{os.getpid()}.{time.monotonic_ns()}")
        os.replace(final, old)
    try:
        os.replace(staging, final)
    except OSError:
        if not (final / META).is_file():  # not a concurrent pull that placed it first
            raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _origin(path: Path) -> dict[str, Any]:
    try:
        value = json.loads((path / ORIGIN).read_text(encoding="utf-8"))
        return value if isinstance(value, dict) else {}
    except (OSError, ValueError):
        return {}


# ---------------------------------------------------------------------------------------------- list, info


def list_models(registry: str | Sequence[str] | None = None) -> dict[str, Any]:
    """What the registries hold (the first registry wins for a name, as for pull) and what is cached.

    Returns:
        `registries`: one row per registry with `ok` and `models` or `error`; `models`: one row per
        user/model with `latest`, `tags`, `registry` (None when only cached), `summary` and `cached` tags.
    """
    rows: list[dict[str, Any]] = []
    models: dict[str, dict[str, Any]] = {}
    for location in registries(registry):
        try:
            index = _Source(location).index()
        except HubError as exc:
            rows.append({"registry": location, "ok": False, "error": str(exc)})
            continue
        rows.append({"registry": location, "ok": True, "models": len(index["models"])})
        for repo, entry in sorted(index["models"].items()):
            if repo in models or not isinstance(entry, dict) or not isinstance(entry.get("tags"), dict):
                continue
            latest = entry.get("latest")
            record = entry["tags"].get(latest) if isinstance(entry["tags"].get(latest), dict) else {}
            models[repo] = {"name": repo, "latest": latest, "tags": sorted(entry["tags"]), "registry": location,
                            "summary": record.get("summary", {}), "cached": []}
    for repo, tags in _cached_tags().items():
        models.setdefault(repo, {"name": repo, "latest": None, "tags": tags, "registry": None, "summary": {}})
        models[repo]["cached"] = tags
    return {"registries": rows, "models": [models[repo] for repo in sorted(models)]}


def info(name: str, registry: str | Sequence[str] | None = None) -> dict[str, Any]:
    """One model's index entry (the tag asked for, default latest) from the first registry that has it,
    plus every tag and the cache path; a package only in the cache is described from its shendu.json."""
    hub_name = parse_name(name)
    tried: list[str] = []
    for location in registries(registry):
        source = _Source(location)
        try:
            index = source.index()
        except HubError as exc:
            tried.append(f"{location} — {exc}")
            continue
        found = _lookup(index, hub_name)
        if isinstance(found, str):
            tried.append(f"{location} — {found}")
            continue
        tag, record = found
        entry = index["models"][hub_name.repo]
        cached = cached_path(hub_name.with_tag(tag))
        tags = {t: {k: r.get(k) for k in ("sha256", "size", "created")} for t, r in sorted(entry["tags"].items())
                if isinstance(r, dict)}
        return {"name": f"{hub_name.repo}:{tag}", "repo": hub_name.repo, "tag": tag, "latest": entry.get("latest"),
                "registry": location, "url": source.where(record["archive"]), **record, "tags": tags,
                "cached": str(cached) if cached else None}
    cached = cached_path(hub_name)
    if cached is not None:
        meta = json.loads((cached / META).read_text(encoding="utf-8"))
        return {"name": f"{hub_name.repo}:{cached.name}", "repo": hub_name.repo, "tag": cached.name, "registry": None,
                "summary": summary(meta), "origin": _origin(cached), "cached": str(cached)}
    lines = "\n".join(f"  {line}" for line in tried)
    raise HubNotFoundError(f"hub model {hub_name} not found in the cache or the registries:\n{lines}")


def _cached_tags() -> dict[str, list[str]]:
    root = cache_root()
    found: dict[str, list[str]] = {}
    for meta in sorted(root.glob(f"*/*/*/{META}")):
        tag_dir = meta.parent
        if not tag_dir.name.startswith(".") and (tag_dir / WEIGHTS).is_file():
            found.setdefault(f"{tag_dir.parent.parent.name}/{tag_dir.parent.name}", []).append(tag_dir.name)
    return found
