"""numpy and OpenBLAS held to one level of vector routines, for results that must agree to the last bit.

numpy picks its vector routines by the processor: its ``exp`` and ``log`` on AVX-512 differ from
those on AVX2 in the last bit of some values. OpenBLAS picks its kernels the same way: on
AVX-512 (its SkylakeX kernels) a dot product of a few pairs fuses each multiply with its add,
where its AVX2 (Haswell) kernels round each product first. A child interpreter started with
:func:`pinned_environment` runs numpy at :data:`PINNED_SIMD` (each higher level switched off
with ``NPY_DISABLE_CPU_FEATURES``) and OpenBLAS on :data:`OPENBLAS_CORE`, so that what it
computes is the same on every x86-64 machine with AVX2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PINNED_SIMD = "X86_V3"
"""numpy's SIMD level the children run at (AVX2 and FMA): each level above it is switched off."""
OPENBLAS_CORE = "Haswell"
"""OpenBLAS's kernels the children run with (its AVX2 ones)."""


def pinned_environment() -> dict[str, str] | None:
    """This environment with numpy held to :data:`PINNED_SIMD` and OpenBLAS to its Haswell kernels; None if out of reach."""
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    if not __cpu_features__.get(PINNED_SIMD) or PINNED_SIMD not in __cpu_dispatch__:
        return None
    above = __cpu_dispatch__[__cpu_dispatch__.index(PINNED_SIMD) + 1 :]
    return {**os.environ, "NPY_DISABLE_CPU_FEATURES": " ".join(above), "OPENBLAS_CORETYPE": OPENBLAS_CORE}


def run_pinned(code: str, *args: str, stdin: object = None, why: str = "") -> object:
    """Run ``code`` (which prints one JSON value last) in a child interpreter held to the pinned level; return that value.

    ``stdin`` is sent as JSON; the tests' folder is on the child's path. Skips the calling test,
    saying ``why`` the level matters, where numpy cannot run at :data:`PINNED_SIMD`.
    """
    env = pinned_environment()
    if env is None:
        pytest.skip(f"numpy cannot run at {PINNED_SIMD} (AVX2) here{': ' + why if why else ''}")
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), *filter(None, [env.get("PYTHONPATH")])])
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        input=None if stdin is None else json.dumps(stdin),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])
