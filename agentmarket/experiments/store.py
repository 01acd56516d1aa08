"""The results folder of a sweep, written so that a crash loses only the runs in flight.

Layout::

    DIR/sweep.json       the spec, its hash, the package version (written once, atomically)
    DIR/design.parquet   the design points
    DIR/runs/ID.parquet  one file per finished run, written to a temporary name then renamed
    DIR/manifest.jsonl   one line per finished run, appended, flushed and fsynced

A run counts as finished once its manifest line is on disk; that line is written only after
its file was renamed into place. A line cut short by a kill is ignored when read back.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd

from agentmarket import __version__
from agentmarket.errors import InputError
from agentmarket.experiments.runner import RunResult
from agentmarket.experiments.spec import SweepSpec
from agentmarket.files import write_atomic
from agentmarket.output import check_writable_folder, refuse_file_as_folder, refuse_foreign_folder

SWEEP_FILE = "sweep.json"
DESIGN_FILE = "design.parquet"
MANIFEST_FILE = "manifest.jsonl"
RUNS_DIR = "runs"


def _write_json(doc: dict[str, Any]):
    def write(tmp: str) -> None:
        Path(tmp).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    return write


def _write_parquet(table: pd.DataFrame):
    def write(tmp: str) -> None:
        table.to_parquet(tmp, index=False)

    return write


def read_sweep(out: Path) -> dict[str, Any] | None:
    """The sweep.json of a results folder, or ``None`` if it holds none."""
    path = Path(out) / SWEEP_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{str(path)!r} cannot be read: {exc}") from None


def check_dir(out: Path, digest: str, n_runs: int, resume: bool) -> bool:
    """Refuse a folder that this sweep may not write into; tell whether it holds this sweep already.

    A folder holding the same sweep (same spec hash) is continued only with ``resume``; a
    folder holding another sweep, or other files, is never written into.
    """
    out = Path(out)
    refuse_file_as_folder(out, "the sweep's results")
    existing = read_sweep(out) if out.is_dir() else None
    if existing is not None:
        if existing.get("spec_hash") != digest:
            raise InputError(
                f"--out {str(out)!r} holds a different sweep (spec hash {existing.get('spec_hash')}, "
                f"this spec {digest}); choose another folder"
            )
        if not resume:
            done = len(finished_ids(out))
            raise InputError(
                f"--out {str(out)!r} already holds this sweep ({done} of {n_runs} runs done); "
                "pass --resume to finish it or choose another folder"
            )
        return True
    refuse_foreign_folder(out, "sweep")
    check_writable_folder(out, out)
    return False


def init_dir(out: Path, spec: SweepSpec, digest: str, design: pd.DataFrame, n_runs: int) -> None:
    """Create the folder of a new sweep: its runs folder, design and sweep.json."""
    out = Path(out)
    try:
        (out / RUNS_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {str(out)!r} cannot be created: {exc.strerror}") from None
    write_atomic(out / DESIGN_FILE, _write_parquet(design), durable=True)
    doc = {
        "spec": spec.model_dump(mode="json"),
        "spec_hash": digest,
        "version": __version__,
        "runs": n_runs,
        "points": len(design),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_atomic(out / SWEEP_FILE, _write_json(doc), durable=True)


def run_path(out: Path, run_id: str) -> Path:
    """Where one run's table is stored under a sweep's output folder."""
    return Path(out) / RUNS_DIR / f"{run_id}.parquet"


def write_run(out: Path, result: RunResult) -> Path | None:
    """Write a finished run's table atomically; a failed run has no file."""
    if result.table is None:
        return None
    return write_atomic(run_path(out, result.run.run_id), _write_parquet(result.table), durable=True)


class Manifest:
    """The append-only manifest: one JSON line per finished run, on disk before the next run is written."""

    def __init__(self, out: Path) -> None:
        self.path = Path(out) / MANIFEST_FILE
        self._repair_tail()
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - held open for the whole sweep

    def _repair_tail(self) -> None:
        """End the file on a newline, so a line cut short by a kill stays one bad line."""
        if self.path.is_file() and self.path.stat().st_size > 0:
            with open(self.path, "rb+") as fh:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    fh.write(b"\n")

    def append(self, record: dict[str, Any]) -> None:
        """Append one record to the manifest and force it to disk."""
        self._fh.write(json.dumps(record, sort_keys=True) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        """Close the manifest file."""
        self._fh.close()

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def manifest_record(result: RunResult, params: dict[str, Any], digest: str, file: Path | None) -> dict[str, Any]:
    """The manifest line of a finished run."""
    run = result.run
    return {
        "run_id": run.run_id,
        "point": run.point,
        "replicate": run.replicate,
        "seed": run.seed,
        "params": params,
        "status": result.status,
        "runtime_s": round(result.runtime_s, 4),
        "error": result.error,
        "worker": result.worker,
        "scenario_hash": result.scenario_hash,
        "spec_hash": digest,
        "version": __version__,
        "file": str(file.relative_to(file.parents[1])) if file is not None else "",
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def read_manifest_lines(out: Path) -> list[dict[str, Any]]:
    """Every whole line of the manifest, in the order written (a cut-short line is skipped)."""
    path = Path(out) / MANIFEST_FILE
    if not path.is_file():
        return []
    lines = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return lines


def read_manifest(out: Path) -> pd.DataFrame:
    """The manifest as a table, one row per run: its latest record."""
    lines = read_manifest_lines(out)
    if not lines:
        return pd.DataFrame(columns=["run_id", "point", "replicate", "seed", "status", "runtime_s", "error"])
    table = pd.DataFrame(lines).drop_duplicates("run_id", keep="last")
    return table.sort_values("run_id", kind="stable").reset_index(drop=True)


def finished_ids(out: Path) -> set[str]:
    """Runs finished successfully: a resume never runs them again."""
    return {r["run_id"] for r in read_manifest_lines(out) if r.get("status") == "ok"}


def read_results(out: Path) -> pd.DataFrame:
    """Every successful run's kept rows, in run order."""
    ok = sorted(finished_ids(out))
    if not ok:
        return pd.DataFrame()
    frames = [pd.read_parquet(run_path(out, rid)) for rid in ok]
    return pd.concat(frames, ignore_index=True)


def read_design(out: Path) -> pd.DataFrame:
    """The design (one row per run) of the sweep stored in ``out``."""
    return pd.read_parquet(Path(out) / DESIGN_FILE)
