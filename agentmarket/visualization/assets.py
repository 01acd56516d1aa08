"""Solara's front-end assets in its local cache, so the dashboard works without internet.

solara-server serves every JavaScript and CSS file the page needs under ``/_solara/cdn/``.
For each request it looks in its proxy cache directory
(``solara.server.settings.assets.proxy_cache_dir``, by default ``<venv>/share/solara/cdn/``,
set by ``SOLARA_ASSETS_PROXY_CACHE_DIR``) for ``<package>@<version>/<file>``, and only when the
file is missing fetches it from ``solara.settings.assets.cdn`` (jsDelivr). On a machine with
no internet that fetch fails and the page stays blank.

This module reads which packages and versions solara asks for from solara's own page
template and Vue widgets (so an upgrade of solara is followed without editing a list), fetches
each one from the npm registry with ``npm pack``, and unpacks it where the server looks.
Run it as ``python -m agentmarket.visualization.assets``; it does nothing for packages
already in place.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path

COMPLETE_MARKER = ".agentmarket-complete"
# {{cdn}}/pkg@1.2.3/... in the page template, ${this.getCdn()}/pkg@5/... in Vue widgets
CDN_REFERENCE = re.compile(r"(?:\{\{\s*cdn\s*\}\}|\$\{this\.getCdn\(\)\})/((?:@[\w.-]+/)?[\w.-]+)@([\w.+-]+)/")
FONTAWESOME_PATH = re.compile(r"^/?((?:@[\w.-]+/)?[\w.-]+)@([\w.+-]+)/")


@dataclass(frozen=True)
class Asset:
    """One npm package as solara-server requests it: ``name@spec`` (an exact version or a major)."""

    name: str
    spec: str

    @property
    def directory(self) -> str:
        """The folder under the cache that the server's URLs point into."""
        return f"{self.name}@{self.spec}"


def cache_dir() -> Path:
    """Where solara-server looks for offline assets (its proxy cache directory)."""
    import solara.server.settings

    return Path(solara.server.settings.assets.proxy_cache_dir)


def _solara_sources() -> list[Path]:
    import solara

    root = Path(solara.__file__).parent
    return [
        root / "server" / "templates" / "solara.html.j2",
        *sorted((root / "widgets" / "vue").glob("*.vue")),
    ]


def required_assets() -> list[Asset]:
    """The npm packages solara's page and widgets load from the CDN, read from solara itself."""
    import solara.server.settings

    found: set[Asset] = set()
    for path in _solara_sources():
        text = path.read_text(encoding="utf-8")
        found.update(Asset(name, spec) for name, spec in CDN_REFERENCE.findall(text))
    match = FONTAWESOME_PATH.match(solara.server.settings.assets.fontawesome_path)
    if match:
        found.add(Asset(*match.groups()))
    return sorted(found, key=attrgetter("directory"))


def missing_assets(root: Path | None = None) -> list[Asset]:
    """Required packages not yet unpacked completely under the cache directory."""
    root = cache_dir() if root is None else root
    return [a for a in required_assets() if not (root / a.directory / COMPLETE_MARKER).exists()]


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed to fetch the dashboard's front-end assets; install Node.js (npm)")
    return npm


def fetch_package(asset: Asset, root: Path) -> Path:
    """Download ``asset`` from the npm registry and unpack it to ``root/<name>@<spec>``.

    The files land in a temporary folder first and are moved into place in one rename, so a
    server reading the cache never sees half a package.
    """
    target = root / asset.directory
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as tmp:
        work = Path(tmp)
        subprocess.run(
            [_npm(), "pack", f"{asset.name}@{asset.spec}", "--silent", "--pack-destination", str(work)],
            check=True,
            cwd=work,
            stdout=subprocess.DEVNULL,
        )
        (tarball,) = work.glob("*.tgz")
        unpacked = work / "unpacked"
        with tarfile.open(tarball) as tar:
            tar.extractall(unpacked, filter="data")
        package = unpacked / "package" if (unpacked / "package").is_dir() else next(unpacked.iterdir())
        (package / COMPLETE_MARKER).write_text(f"{asset.name}@{asset.spec}\n", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        package.rename(target)
    return target


def install_assets(root: Path | None = None, quiet: bool = False) -> list[Asset]:
    """Fetch every missing package into the cache; returns the ones fetched (none when done)."""
    root = cache_dir() if root is None else root
    todo = missing_assets(root)
    for asset in todo:
        if not quiet:
            print(f"fetching {asset.name}@{asset.spec} into {root}", file=sys.stderr)
        fetch_package(asset, root)
    return todo


def main() -> int:
    """Command-line entry: fill the cache and say what was done."""
    try:
        fetched = install_assets()
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"agentmarket: error: could not fetch front-end assets: {exc}", file=sys.stderr)
        return 1
    status = f"fetched {len(fetched)} package(s)" if fetched else "already in place"
    print(f"dashboard front-end assets in {cache_dir()}: {status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
