"""Static files of the web pages, served from the installed packages (no CDN: a rig offline works).

The work server's page and the miner's page share ``chart.js`` (a hand-written SVG line chart) and
``page.css`` from ``protocol/server/static/``; each page adds its own files. Only names listed by a
page are served, so a request can never reach another file.
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

__all__ = ["SHARED", "asset_response"]

#: Files both pages use, in ``protocol/server/static/``.
SHARED = {"chart.js": "protocol", "page.css": "protocol"}

_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}
_DIRS = {"protocol": ("protocol", "server", "static"), "miner": ("miner", "static")}


def _read(package: str, name: str) -> bytes:
    root, *parts = _DIRS[package]
    path = resources.files(root)
    for part in parts:
        path = path / part
    return (path / name).read_bytes()


def asset_response(table: dict[str, str], name: str) -> web.Response:
    """The file ``name`` of a page's ``table`` (file name -> package, ``"protocol"`` or ``"miner"``); 404 else."""
    package = table.get(name)
    if package is None:
        raise web.HTTPNotFound(text="no such file")
    suffix = name[name.rfind("."):]
    return web.Response(body=_read(package, name), content_type=_TYPES.get(suffix, "application/octet-stream"),
                        charset="utf-8", headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})
