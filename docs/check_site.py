"""Check a built site: it loads nothing from outside itself, and its API pages show no private name.

Usage:  python docs/check_site.py SITE_DIR [--browser CHROMIUM]
        (what .ci/run runs after ``mkdocs build --strict``)

1. Every script, stylesheet, image, font, frame or media file a page or stylesheet loads (``src=``,
   ``href=`` of ``<link>``, ``srcset=``, ``data=``, CSS ``url()`` and ``@import``) is a relative
   path to a file inside the site (``/path``, as mkdocs' 404 page has them, from the site's root):
   no ``http(s)://``, no protocol-relative ``//host``. Links a reader follows (``<a href>``) may
   point anywhere.
2. No page under ``api/`` shows a name that starts with one underscore, nor a path through a
   private module (``exchange_recovery._core``).

3. With ``--browser``: every page with a diagram, opened from disk in headless Chromium with the
   network off (``unshare -n``: a network namespace with no interface), has every diagram drawn
   (each ``<div class="mermaid">`` holds an ``<svg>``).

Exits 1 listing every problem, 0 (printing what it checked) when there is none.
"""

from __future__ import annotations

import html.parser
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse

_LOADING_TAGS = {"script", "img", "iframe", "embed", "source", "audio", "video", "track", "input",
                 "object", "image", "use"}
_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)|@import\s+['"]([^'"]+)['"]""")
_PRIVATE = re.compile(r"(?<![\w])_[A-Za-z]\w*")


class _Page(html.parser.HTMLParser):
    """Collects what a page loads, and its visible text (scripts and styles left out)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.loads: list[tuple[str, str]] = []  # (tag.attribute, value)
        self.text: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value for name, value in attrs if value is not None}
        if tag in {"script", "style"}:
            self._hidden += 1
        if tag == "link" and values.get("href"):
            self.loads.append(("link.href", values["href"]))
        if tag in _LOADING_TAGS:
            for name in ("src", "data", "href", "xlink:href", "poster"):
                if values.get(name):
                    self.loads.append((f"{tag}.{name}", values[name]))
            for candidate in values.get("srcset", "").split(","):
                if candidate.strip():
                    self.loads.append((f"{tag}.srcset", candidate.split()[0]))
        if values.get("title") and not self._hidden:  # a tooltip is shown too
            self.text.append(values["title"])
        if values.get("style"):
            self.loads += [(f"{tag}.style", url) for url in _css_urls(values["style"])]

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style"} and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if self._hidden:
            if self.lasttag == "style":
                self.loads += [("style", url) for url in _css_urls(data)]
            return
        self.text.append(data)


def _css_urls(css: str) -> list[str]:
    return [a or b for a, b in _CSS_URL.findall(css)]


def _outside(site: pathlib.Path, page: pathlib.Path, url: str) -> str | None:
    """Why `url`, loaded by `page`, is not a file of the site (None when it is)."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "data" or url.startswith("#"):
        return None
    if parsed.scheme or parsed.netloc:
        return "loads from outside the site"
    base = site if parsed.path.startswith("/") else page.parent  # 404.html: from the site's root
    target = (base / urllib.parse.unquote(parsed.path).lstrip("/")).resolve()
    if not target.is_relative_to(site.resolve()):
        return "points outside the site directory"
    if target.is_dir():
        target /= "index.html"
    if not target.is_file():
        return "no such file in the site"
    return None


def problems(site: pathlib.Path) -> tuple[list[str], int]:
    """Every problem found in `site`, and how many references were checked."""
    found: list[str] = []
    checked = 0
    for path in sorted(site.rglob("*")):
        if path.suffix == ".html":
            page = _Page()
            page.feed(path.read_text(encoding="utf-8"))
            loads = page.loads
            if path.relative_to(site).parts[0] == "api":
                text = " ".join(page.text)
                found += [f"{path.relative_to(site)}: shows the private name {name!r}"
                          for name in sorted(set(_PRIVATE.findall(text)))]
        elif path.suffix == ".css":
            loads = [("css", url) for url in _css_urls(path.read_text(encoding="utf-8"))]
        else:
            continue
        for where, url in loads:
            checked += 1
            why = _outside(site, path, url)
            if why is not None:
                found.append(f"{path.relative_to(site)}: {where}={url!r} {why}")
    return found, checked


_DIAGRAM = re.compile(r'<div class="mermaid"')
_DRAWN = re.compile(r'<div class="mermaid"[^>]*>\s*<svg')


def undrawn(site: pathlib.Path, chromium: str) -> tuple[list[str], int]:
    """Pages whose diagrams Chromium, offline, did not draw; and how many diagrams were drawn."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return ["unshare (util-linux) is needed to take the network away from Chromium"], 0
    found: list[str] = []
    drawn = 0
    for page in sorted(site.rglob("*.html")):
        expected = len(_DIAGRAM.findall(page.read_text(encoding="utf-8")))
        if not expected:
            continue
        with tempfile.TemporaryDirectory() as profile:
            done = subprocess.run(  # noqa: S603 - fixed arguments, our own built page
                [unshare, "-n", chromium, "--headless", "--no-sandbox", "--disable-gpu",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=20000",
                 "--dump-dom", page.resolve().as_uri()],
                capture_output=True, text=True, timeout=180, check=False)
        got = len(_DRAWN.findall(done.stdout))
        drawn += got
        if got != expected:
            found.append(f"{page.relative_to(site)}: {got} of {expected} diagrams drawn offline "
                         f"(chromium exit {done.returncode})")
    return found, drawn


def main(argv: list[str]) -> int:
    browser = None
    if len(argv) == 3 and argv[1] == "--browser":
        browser, argv = argv[2], argv[:1]
    if len(argv) != 1:
        sys.stderr.write("usage: python docs/check_site.py SITE_DIR [--browser CHROMIUM]\n")
        return 2
    site = pathlib.Path(argv[0])
    if not (site / "index.html").is_file():
        sys.stderr.write(f"{site} is not a built site (no index.html)\n")
        return 2
    found, checked = problems(site)
    drawn = 0
    if browser is not None:
        offline, drawn = undrawn(site, browser)
        found += offline
    for problem in found:
        sys.stderr.write(f"{problem}\n")
    if found:
        sys.stderr.write(f"{len(found)} problems in the built site\n")
        return 1
    sys.stdout.write(f"site self-contained: {checked} references to files inside it, "
                     "no private names on the API pages"
                     + (f"; {drawn} diagrams drawn by Chromium offline" if browser else "") + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
