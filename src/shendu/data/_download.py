"""Getting a dataset's files: cache, mirror, canonical URLs — verified, atomic, explained when it fails.

Where a file is looked for, in order:

1. the cache, `SHENDU_HOME/cache/datasets/<mirror_dir>/<filename>` (a copy that fails its hash is
   deleted and fetched again);
2. the mirror (`mirror=` / config `data.mirror`, else SHENDU_DATA_MIRROR): a local folder laid out like
   `<mirror>/<mirror_dir>/<filename>` is verified and read in place; an http(s) mirror is downloaded
   into the cache;
3. the canonical URLs, in order.

A dataset may accept alternative file sets (CIFAR-10: the python tarball, or partial batch files) and
loose files found by name pattern in the cache or a local mirror folder. Everything local is preferred
to anything on the network, and the mirror to the canonical URLs, so an offline machine with a mirror
never waits on a timeout.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from fnmatch import fnmatch
from pathlib import Path
from typing import Callable, Iterator, Sequence

from shendu import _settings
from shendu._version import __version__
from shendu.data._types import DatasetInfo, RemoteFile
from shendu.errors import BadInputError, ChecksumError, DataMissingError

TIMEOUT = 30.0  # seconds without data before a download counts as failed
_CHUNK = 1 << 20
# Verified digests keyed by (path, size, mtime, algorithm): loading train, val and test hashes each
# 30 MB file once per process, not three times.
_DIGESTS: dict[tuple[str, int, int, str], str] = {}

Group = Sequence[RemoteFile]


def cache_dir(info: DatasetInfo) -> Path:
    """Where downloaded files of `info` are kept (not created until something is written)."""
    return _settings.home() / "cache" / "datasets" / info.mirror_dir


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file, computed once per process for an unchanged file."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, algorithm)
    if key not in _DIGESTS:
        digest = hashlib.new(algorithm, usedforsecurity=False)
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


def fetch(info: DatasetInfo, *, alternatives: Sequence[Group] = (), loose: Sequence[str] = (),
          mirror: str | os.PathLike | None = None, download: bool = True, progress: bool = True) -> list[Path]:
    """Make the files of `info` available locally and return their verified paths.

    Args:
        info: the dataset; `info.files` is the canonical file set.
        alternatives: other complete file sets that are accepted instead, in order of preference.
        loose: glob patterns of data files accepted one by one from the cache or a local mirror folder
            (known hashes are still checked; the reader checks the record layout of the others).
        mirror: explicit mirror (folder or http(s) URL); None means SHENDU_DATA_MIRROR.
        download: False means no network at all (cache and local mirror only).
        progress: show a progress bar while downloading.

    Raises:
        ChecksumError: a file does not match its published hash.
        DataMissingError: the files are nowhere to be found; one error lists every place tried.
    """
    if not info.files:
        return []
    fetcher = _Fetcher(info, mirror, download, progress)
    groups = [tuple(info.files), *(tuple(g) for g in alternatives)]
    found = fetcher.offline(groups, loose)
    if not found and download:
        found = fetcher.online(groups)
    if not found:
        raise fetcher.missing(groups, loose)
    return found


class _Fetcher:
    """One attempt at locating a dataset's files; remembers every failure for the final message."""

    def __init__(self, info: DatasetInfo, mirror: str | os.PathLike | None, download: bool,
                 progress: bool) -> None:
        self.info, self.download, self.progress = info, download, progress
        self.setting = _settings.data_mirror(mirror)
        self.mirror_url, mirror_root = _parse_mirror(self.setting)
        self.mirror_dir = mirror_root / info.mirror_dir if mirror_root is not None else None
        self.cache = cache_dir(info)
        self.tried: dict[str, str] = {}  # URL -> why it failed
        self.unreachable: set[str] = set()  # hosts that refused, timed out or did not resolve
        self.remarks: list[str] = []

    # -- strategy ------------------------------------------------------------------------------------
    def offline(self, groups: list[Group], loose: Sequence[str]) -> list[Path]:
        """A complete file set from the cache or a local mirror folder, without touching the network."""
        for group in groups:
            # Sets made only of loose files are assembled by the scan below, file by file.
            if loose and all(_matches(rf.filename, loose) for rf in group):
                continue
            paths = [self.local(rf) for rf in group]
            if all(paths):
                return paths  # type: ignore[return-value]
        return self.scan(loose, groups) if loose else []

    def online(self, groups: list[Group]) -> list[Path]:
        """Every accepted set from an http(s) mirror first, then the canonical set from its URLs."""
        if self.mirror_url:
            for group in groups:
                paths: list[Path] = []
                for rf in group:
                    path = self.local(rf) or self.from_mirror_url(rf)
                    if path is None:
                        break
                    paths.append(path)
                else:
                    return paths
        # No short-circuit: every missing file is tried, so the error can name them all.
        found = [self.local(rf) or self.from_mirror_url(rf) or self.from_canonical(rf) for rf in groups[0]]
        return found if all(found) else []  # type: ignore[return-value]

    # -- sources -------------------------------------------------------------------------------------
    def local(self, rf: RemoteFile) -> Path | None:
        return self.cached(rf) or self.in_mirror_dir(rf)

    def cached(self, rf: RemoteFile) -> Path | None:
        path = self.cache / rf.filename
        if not path.is_file():
            return None
        return path if self._check_cached(path, rf) else None

    def in_mirror_dir(self, rf: RemoteFile) -> Path | None:
        if self.mirror_dir is None:
            return None
        path = self.mirror_dir / rf.filename
        if not path.is_file():
            return None
        self._check_mirrored(path, rf)
        return path

    def from_mirror_url(self, rf: RemoteFile) -> Path | None:
        if not self.mirror_url:
            return None
        parts = (self.mirror_url.rstrip("/"), urllib.parse.quote(self.info.mirror_dir), urllib.parse.quote(rf.filename))
        return self._get("/".join(parts), rf)

    def from_canonical(self, rf: RemoteFile) -> Path | None:
        for url in rf.urls:
            path = self._get(url, rf)
            if path is not None:
                return path
        return None

    def scan(self, patterns: Sequence[str], groups: list[Group]) -> list[Path]:
        """Loose data files in the cache, then the local mirror folder (a cached copy wins a name clash)."""
        known = {rf.filename: rf for group in groups for rf in group if rf.digest}
        found: dict[str, Path] = {}
        for folder in (self.cache, self.mirror_dir):
            if folder is None or not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                name = path.name
                if name in found or name.endswith(".part") or not _matches(name, patterns) or not path.is_file():
                    continue
                rf = known.get(name)
                if rf is not None and folder == self.cache and not self._check_cached(path, rf):
                    continue
                if rf is not None and folder != self.cache:
                    self._check_mirrored(path, rf)
                found[name] = path
        return list(found.values())

    # -- verification and transfer -------------------------------------------------------------------
    def _check_cached(self, path: Path, rf: RemoteFile) -> bool:
        """A cached copy that fails its hash is ours to delete; it is then fetched again."""
        bad = _mismatch(path, rf)
        if bad is None:
            return True
        path.unlink(missing_ok=True)
        self.remarks.append(f"the cached {rf.filename} failed its {bad[0]} check and was deleted")
        return False

    def _check_mirrored(self, path: Path, rf: RemoteFile) -> None:
        """A bad file in the user's own mirror folder is reported, never deleted."""
        bad = _mismatch(path, rf)
        if bad is not None:
            raise _checksum_error(rf, f"the mirror folder ({path})", path, bad,
                                  "The file was left in place: shendu never deletes from your mirror. Replace it "
                                  "with a good copy, or unset SHENDU_DATA_MIRROR / data.mirror to download it.")

    def _get(self, url: str, rf: RemoteFile) -> Path | None:
        """Download `url` into the cache via a temporary `.part` file; None (and a reason) on failure."""
        if url in self.tried:
            return None
        host = urllib.parse.urlsplit(url).netloc
        if host in self.unreachable:
            # Offline, every file would wait on the same dead host (up to TIMEOUT each): ask once.
            self.tried[url] = f"skipped: {host} was unreachable just before"
            return None
        self.cache.mkdir(parents=True, exist_ok=True)
        dest = self.cache / rf.filename
        # A unique .part name: two processes (sweep workers, DDP ranks) may fetch the same file at once.
        handle, name = tempfile.mkstemp(prefix=f"{rf.filename}.", suffix=".part", dir=self.cache)
        os.close(handle)
        part = Path(name)
        try:
            _stream(url, part, rf, self.progress)
            bad = _mismatch(part, rf)
            if bad is not None:
                raise _checksum_error(rf, url, part, bad,
                                      f"The bad file was not kept (nothing was written to {self.cache}). Try "
                                      "again; if it fails again, that server holds a bad copy.")
            os.replace(part, dest)  # atomic: readers see the old state or the verified file, nothing between
            return dest
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            self.tried[url] = _reason(exc)
            if isinstance(exc, (urllib.error.URLError, TimeoutError)) and not isinstance(exc, urllib.error.HTTPError):
                self.unreachable.add(host)
            return None
        finally:
            part.unlink(missing_ok=True)

    # -- the one error -------------------------------------------------------------------------------
    def missing(self, groups: list[Group], loose: Sequence[str]) -> DataMissingError:
        name, primary = self.info.name, groups[0]
        absent = [rf.filename for rf in primary if self.local(rf) is None] or [rf.filename for rf in primary]
        lines = [f"dataset {name!r}: {len(absent)} file{'s' if len(absent) != 1 else ''} missing: {', '.join(absent)}"]
        others = [" + ".join(rf.filename for rf in group) for group in groups[1:]]
        others += [f"loose files named {', '.join(loose)}"] if loose else []
        if others:
            lines.append(f"  also accepted instead: {' | '.join(others)}")
        lines.append(f"  cache: looked in {self.cache}")
        lines.append(f"  mirror: {self._mirror_line()}")
        if not self.download:
            lines.append("  downloads: off (download=False), so no URL was tried")
        elif self.tried:
            lines.append("  tried:")
            lines += [f"    {url} — {why}" for url, why in self.tried.items()]
        lines += [f"  note: {remark}" for remark in self.remarks]
        lines.append(f"To fix: set SHENDU_DATA_MIRROR=<dir> (or data.mirror in the config) to a folder laid out like "
                     f"<dir>/{self.info.mirror_dir}/{absent[0]}, or run `shendu data download {name}` while online.")
        return DataMissingError("\n".join(lines))

    def _mirror_line(self) -> str:
        if self.setting is None:
            return "none set (SHENDU_DATA_MIRROR is unset and no data.mirror was given)"
        if self.mirror_url:
            return f"{self.setting} (an http mirror; its URLs are listed under 'tried')"
        exists = "" if self.mirror_dir is not None and self.mirror_dir.is_dir() else " (that folder does not exist)"
        return f"{self.setting} — looked in {self.mirror_dir}{exists}"


def _parse_mirror(setting: str | None) -> tuple[str | None, Path | None]:
    """(http base URL, None) or (None, local folder) or (None, None)."""
    if setting is None:
        return None, None
    scheme = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://", setting)
    if scheme is None:
        return None, Path(setting).expanduser()
    kind = scheme.group(1).lower()
    if kind in ("http", "https"):
        return setting, None
    if kind == "file":
        return None, Path(urllib.request.url2pathname(urllib.parse.urlparse(setting).path))
    raise BadInputError(f"data mirror {setting!r}: expected a local folder or an http(s):// URL, "
                        f"received a {kind}:// URL")


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch(name, pattern) for pattern in patterns)


def _mismatch(path: Path, rf: RemoteFile) -> tuple[str, str, str] | None:
    """(algorithm, expected, received) when `path` does not match `rf`'s hash, else None."""
    if rf.digest is None:
        return None  # unknown hash: the reader checks the record layout instead
    algorithm, expected = rf.digest
    received = file_digest(path, algorithm)
    return None if received == expected else (algorithm, expected, received)


def _checksum_error(rf: RemoteFile, origin: str, path: Path, bad: tuple[str, str, str], fate: str) -> ChecksumError:
    algorithm, expected, received = bad
    size = path.stat().st_size
    of = f" of the expected {rf.size:,}" if rf.size else ""
    return ChecksumError(f"{rf.filename} from {origin} is corrupt, truncated or a different version: expected "
                         f"{algorithm} {expected}, received {algorithm} {received} ({size:,} bytes{of}). {fate}")


def _stream(url: str, part: Path, rf: RemoteFile, progress: bool) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": f"shendu/{__version__}"})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response, open(part, "wb") as out:
        announced = int(response.headers.get("Content-Length") or 0)
        received = 0
        with _progress_bar(progress, rf.filename, announced or rf.size) as advance:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                received += len(chunk)
                advance(len(chunk))
    # urllib's read(n) ends quietly when the server hangs up early; a cut connection is a network
    # failure (try the next URL), not a corrupt file.
    if announced and received < announced:
        raise http.client.HTTPException(f"connection closed after {received:,} of {announced:,} bytes")


@contextmanager
def _progress_bar(enabled: bool, label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    columns = (TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(label, total=total or None)
        yield lambda n: bar.advance(task, n)


def _reason(exc: BaseException) -> str:
    """A short why for the 'tried' list: 'HTTP 404 Not Found', '[Errno 111] Connection refused', …"""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        return f"timed out after {TIMEOUT:g} s" if isinstance(reason, TimeoutError) else str(reason)
    if isinstance(exc, TimeoutError):
        return f"timed out after {TIMEOUT:g} s"
    if type(exc) is http.client.HTTPException:  # raised by _stream with a readable message
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
