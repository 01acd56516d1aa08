"""Start the dashboard: solara-server on a given host and port, with no request leaving it.

The app is served by ``solara run`` in production mode. Solara's front-end assets come from
its local cache (see :mod:`agentmarket.visualization.assets`), which is filled first when
packages are missing, and the server's usage telemetry is switched off, so neither the
browser nor the server needs the internet once the cache is in place.
"""

from __future__ import annotations

import os
import sys

APP = "agentmarket.visualization.app"
KERNEL_CULL_TIMEOUT = "10m"
"""How long the server keeps a session whose page went away without closing (override: SOLARA_KERNEL_CULL_TIMEOUT)."""
ALLOCATOR_ENVIRONMENT = {"PYTHONMALLOC": "malloc", "MALLOC_ARENA_MAX": "1"}
"""Allocator settings that let a closed session's memory go back to the operating system.

Without them the memory of closed sessions stays in the server as free but resident heap:
Python's small-object allocator gives a 1 MiB arena back only once every object in it is
gone, and a few long-lived objects made while a session ran (interned names, thread records)
keep many arenas; and glibc gives each of the server's threads its own heap, whose free top
``malloc_trim`` does not shrink. Python's objects in glibc's one main heap are freed page by
page by the ``malloc_trim`` the dashboard runs after a session closes. Each can be overridden
in the environment.
"""


def server_command(host: str, port: int) -> list[str]:
    """The ``solara run`` command line for the dashboard."""
    return [
        sys.executable,
        "-m",
        "solara",
        "run",
        APP,
        "--host",
        host,
        "--port",
        str(port),
        "--production",
        "--no-open",
        "--log-level",
        "warning",
    ]


def server_environment(posterior: str | None = None) -> dict[str, str]:
    """The environment for the server: no telemetry, no CDN fallback, lost sessions culled, memory given back.

    ``posterior`` is the posterior file every new page starts with (none: the page starts without).
    """
    from agentmarket.visualization.state import POSTERIOR_ENV

    env = dict(os.environ)
    env.pop(POSTERIOR_ENV, None)
    if posterior:
        env[POSTERIOR_ENV] = posterior
    env.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "False")
    env.setdefault("SOLARA_ASSETS_PROXY", "True")
    # a tab that closes sends a close beacon and its models are freed at once; one that vanishes
    # without it (a crash, a lost network) is culled after this long instead of solara's 24 h
    env.setdefault("SOLARA_KERNEL_CULL_TIMEOUT", KERNEL_CULL_TIMEOUT)
    for name, value in ALLOCATOR_ENVIRONMENT.items():
        env.setdefault(name, value)
    return env


def ensure_assets() -> None:
    """Fill Solara's asset cache when a package is missing (needs the npm registry once)."""
    from agentmarket.visualization.assets import install_assets, missing_assets

    if missing_assets():
        install_assets()


def serve(host: str = "127.0.0.1", port: int = 8765, posterior: str | None = None) -> int:
    """Run the dashboard server in the foreground, in place of this process.

    The process becomes ``solara run`` (exec), so Ctrl-C and SIGTERM reach the server itself
    and no server is left behind; returns only if the exec fails. ``posterior`` (a checked
    posterior file's absolute path) makes every page's runs draw from it.
    """
    ensure_assets()
    print(f"agentmarket dashboard on http://{host}:{port}/ (Ctrl-C stops it)", file=sys.stderr)
    sys.stderr.flush()
    sys.stdout.flush()
    command = server_command(host, port)
    os.execve(command[0], command, server_environment(posterior))
    return 1
