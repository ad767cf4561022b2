"""What keeps the studio safe when it is reachable: the token, paths from the browser, uploaded images.

- Token: beyond loopback every request needs it — `Authorization: Bearer <token>`, or the cookie a browser
  gets by opening the address printed at start-up (`/?token=…`, which sets the cookie and redirects to the
  same page without the token in the address bar).
- Paths: a file name or relative path from the browser is joined to one data directory and must stay inside
  it after resolving `..` and symlinks (`safe_join`).
- Uploads: the request body is capped before it is parsed (`shendu.serve`'s `BodyLimit`), and images are
  decoded by `shendu.serve`'s `decode_images` — pixel count checked from the header before decoding, so a
  decompression bomb is refused without being expanded, and anything Pillow cannot read is a 400.
"""
from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any, Awaitable, Callable
from urllib.parse import urlencode, urlparse

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from shendu.studio._i18n import both

TOKEN_COOKIE = "shendu_studio_token"


def token_middleware(token: str) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    """An HTTP middleware that lets through only requests carrying `token` (header, cookie or ?token=)."""
    expected = token.encode()

    def matches(candidate: str | None) -> bool:
        return candidate is not None and secrets.compare_digest(candidate.encode(), expected)

    async def check(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        header = request.headers.get("authorization", "")
        bearer = header[7:].strip() if header.lower().startswith("bearer ") else None
        if matches(bearer) or matches(request.cookies.get(TOKEN_COOKIE)):
            return await call_next(request)
        given = request.query_params.get("token")
        if matches(given) and request.method == "GET":
            rest = {k: v for k, v in request.query_params.multi_items() if k != "token"}
            target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
            return response
        if bearer is None and given is None and request.cookies.get(TOKEN_COOKIE) is None:
            detail = both("token.missing")
        else:
            detail = both("token.wrong")
        return JSONResponse({"detail": detail}, status_code=401, headers={"WWW-Authenticate": "Bearer"})

    return check


async def same_origin(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Refuse state-changing requests that a page of another site sent (cross-site request forgery).

    Browsers send `Origin` with every POST; a form on another site posting to the studio (which, on loopback,
    needs no token) carries that site's origin. Clients that send no `Origin` (curl, scripts) are not browsers
    acting for someone else, and pass.
    """
    origin = request.headers.get("origin")
    if request.method not in ("GET", "HEAD", "OPTIONS") and origin and origin != "null":
        if urlparse(origin).netloc != request.headers.get("host", ""):
            return JSONResponse({"detail": f"cross-site request refused: the page at {origin} may not change this "
                                           f"studio ({request.headers.get('host')}); use the studio's own pages "
                                           f"/ 拒绝跨站请求"}, status_code=403)
    return await call_next(request)


def safe_join(root: Path, relative: str, what: str = "path") -> Path:
    """`root / relative`, refusing anything that would leave `root` (.., absolute paths, symlinks out).

    Raises:
        HTTPException: 400 for an empty or absolute path or a NUL byte; 403 when it escapes `root`.
    """
    if not relative or "\0" in relative:
        raise HTTPException(400, f"{what}: expected a relative file name inside {root.name}/, received "
                                 f"{relative!r} / 需要 {root.name}/ 内的相对路径")
    candidate = Path(relative)
    if candidate.is_absolute() or relative.startswith(("/", "\\")) or ":" in candidate.parts[0]:
        raise HTTPException(400, f"{what}: expected a path relative to {root.name}/, received the absolute path "
                                 f"{relative!r}; give it relative to that folder / 请给出相对于该文件夹的路径")
    base = root.resolve()
    resolved = (base / candidate).resolve()
    if resolved != base and base not in resolved.parents:
        raise HTTPException(403, f"{what}: {relative!r} leads outside {root.name}/ (resolved to {resolved}); "
                                 f"only files inside it can be read / 路径越出了允许的目录")
    return resolved


def form_text(value: Any, field: str, max_chars: int) -> str:
    """A text form field, length-checked."""
    if not isinstance(value, str):
        raise HTTPException(422, f"{field}: expected text, received {type(value).__name__} / 需要文本")
    if len(value) > max_chars:
        raise HTTPException(413, f"{field}: expected at most {max_chars:,} characters, received {len(value):,} "
                                 f"/ 文本过长")
    return value
