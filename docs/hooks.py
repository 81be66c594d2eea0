"""mkdocs hooks: the site ships its own Mermaid, so diagrams render with no network.

The policy diagrams are Mermaid sources in the pages. Instead of loading mermaid.js from a CDN
when a page opens (offline: raw source on the page), the build adds ``js/mermaid.min.js`` to the
site, taken from the npm registry's ``mermaid`` package at a pinned version whose tarball must
have the pinned SHA-512 (npm's ``integrity``). It is fetched once with ``npm pack`` into a cache
directory (``$XDG_CACHE_HOME``, else ``~/.cache``) and never committed; without npm or the
network on a machine with an empty cache the build fails and says what to do. Set
``MERMAID_JS`` to a copy of ``mermaid.min.js`` (checked against the same SHA-256) to skip npm.
Mermaid's licence (MIT) goes beside the script.

Code blocks are highlighted at build time by Pygments rather than by the theme's highlight.js
(which it would load from a CDN); this writes the stylesheet for Pygments' classes.

A name in a signature that the reference does not document (a type defined in a private module)
is shown as its bare name with the full path as a tooltip; the tooltip is dropped when that path
goes through a private module, so the reference shows only importable paths.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import tarfile
import tempfile
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from pygments.formatters import HtmlFormatter

MERMAID_VERSION = "12.4.0"
TARBALL_SHA512 = ("sha512-j2gvsGUFeS/53WdYLl9H5G2YtMZX9G/PlCvV3E5Pf4j5XSnK19DwazU6wki7OTcKeYKed7"
                  "+qujRDLhy8NV2zBg==")
"""npm's ``integrity`` of mermaid-12.4.0.tgz (``npm view mermaid@12.4.0 dist.integrity``)."""
SCRIPT_SHA256 = "c0891e4c0413d0710ad193b431d8cbbe9d031636e51c467d11daa4721ba22094"
"""SHA-256 of package/dist/mermaid.min.js in that tarball."""

SCRIPT = "js/mermaid.min.js"
STYLES = "css/pygments.css"
LICENSE = "js/mermaid.LICENSE.txt"
_MEMBERS = {SCRIPT: "package/dist/mermaid.min.js", LICENSE: "package/LICENSE"}
_PRIVATE_TITLE = re.compile(r' title="[^"]*(?<![\w])_[A-Za-z][^"]*"')


def _cache() -> pathlib.Path:
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "exchange_recovery-docs" / f"mermaid-{MERMAID_VERSION}"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _npm_pack(into: pathlib.Path) -> None:
    """Download the pinned tarball with npm, check its hash, keep the script and its licence."""
    npm = shutil.which("npm")
    if npm is None:
        msg = (f"the docs ship mermaid {MERMAID_VERSION} from the npm registry, and npm is not "
               "installed: install Node.js/npm, or set MERMAID_JS to a copy of mermaid.min.js")
        raise PluginError(msg)
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(  # noqa: S603 - npm found on PATH, fixed arguments
            [npm, "pack", f"mermaid@{MERMAID_VERSION}", "--json", "--pack-destination", tmp],
            capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            msg = f"npm pack mermaid@{MERMAID_VERSION} failed: {done.stderr.strip()[-500:]}"
            raise PluginError(msg)
        tarball = pathlib.Path(tmp) / json.loads(done.stdout)[0]["filename"]
        integrity = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
        if integrity != TARBALL_SHA512:
            msg = f"mermaid-{MERMAID_VERSION}.tgz has {integrity}, expected {TARBALL_SHA512}"
            raise PluginError(msg)
        into.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tarball) as tar:
            for name, member in _MEMBERS.items():
                extracted = tar.extractfile(member)
                if extracted is None:
                    msg = f"{member} is missing from mermaid-{MERMAID_VERSION}.tgz"
                    raise PluginError(msg)
                part = into / f"{pathlib.PurePosixPath(name).name}.part"
                part.write_bytes(extracted.read())
                part.replace(into / pathlib.PurePosixPath(name).name)


def mermaid_files() -> dict[str, pathlib.Path]:
    """Where the pinned script and its licence are on this machine (fetched if need be)."""
    given = os.environ.get("MERMAID_JS")
    if given:
        script = pathlib.Path(given)
        files = {SCRIPT: script}
    else:
        cache = _cache()
        files = {name: cache / pathlib.PurePosixPath(name).name for name in _MEMBERS}
        script = files[SCRIPT]
        if not all(path.is_file() for path in files.values()):
            _npm_pack(cache)
    digest = _sha256(script.read_bytes()) if script.is_file() else "no such file"
    if digest != SCRIPT_SHA256:
        msg = f"{script} is not mermaid {MERMAID_VERSION}'s mermaid.min.js (SHA-256 {digest})"
        raise PluginError(msg)
    return files


def on_files(files: Files, config: Any, **kwargs: Any) -> Files:  # noqa: ARG001 - mkdocs' signature
    """Add the script (and its licence) to the site's files, as if they were in docs/."""
    for name, path in mermaid_files().items():
        files.append(File.generated(config, name, abs_src_path=str(path)))
    files.append(File.generated(config, STYLES,
                                content=HtmlFormatter().get_style_defs(".highlight")))
    return files


@event_priority(-100)  # after autorefs has turned cross-references into links and spans
def on_post_page(output: str, **kwargs: Any) -> str:  # noqa: ARG001 - mkdocs' signature
    """Drop tooltips that would show a private module's path."""
    return _PRIVATE_TITLE.sub("", output)
