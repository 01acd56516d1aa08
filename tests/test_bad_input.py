"""Every bad input ends in one line on stderr naming what is wrong and what is allowed.

Bad input exits with status 2, a run that failed after it began with status 1; neither
shows a traceback unless ``--debug`` comes before the command, and neither leaves a file
behind. Most cases call :func:`agentmarket.cli.main` in this process; a few run the
installed ``agentmarket`` command as a subprocess, as a user would.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from agentmarket.cli import app, main
from agentmarket.errors import InputError

EXE = Path(sys.executable).with_name("agentmarket")
SHORT = ["--months", "1", "--developers", "20"]


def cli(capsys, *args: str) -> tuple[int, str]:
    """Run the command line in this process: exit status and stderr."""
    code = main(list(args))
    return code, capsys.readouterr().err


def one_line(err: str) -> str:
    """The single error line, checked to be one line without a traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert "Traceback" not in err
    assert lines[0].startswith("agentmarket: error: ")
    return lines[0]


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def cwd(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ----- the scenario and its parameters ----------------------------------------------------------
def test_unknown_key_in_set_names_the_keys_allowed(capsys, cwd):
    code, err = cli(capsys, "run", "--set", "adoption.imitatoin=0.4", *SHORT, "--out", "r.csv")
    line = one_line(err)
    assert code == 2
    assert "unknown key 'adoption.imitatoin'" in line and "imitation" in line and "innovation" in line
    assert files_in(cwd) == []


def test_unknown_key_in_a_scenario_file(capsys, cwd):
    write(cwd / "s.toml", 'extends = "baseline"\n[adoption]\nimitatoin = 0.4\n')
    code, err = cli(capsys, "run", "--scenario", "s.toml", *SHORT, "--out", "r.csv")
    line = one_line(err)
    assert code == 2 and "unknown key 'adoption.imitatoin'" in line
    assert files_in(cwd) == ["s.toml"]


def test_unknown_table_at_the_top_level(capsys, cwd):
    code, err = cli(capsys, "run", "--set", "adoptoin.imitation=0.4", *SHORT, "--out", "r.csv")
    line = one_line(err)
    assert code == 2 and "unknown key 'adoptoin'" in line and "adoption" in line
    assert files_in(cwd) == []


def test_unknown_entity_names_the_entities_there_are(capsys, cwd):
    code, err = cli(capsys, "run", "--set", "labs.lab_z.target_gross_margin=0.6", *SHORT, "--out", "r.csv")
    line = one_line(err)
    assert code == 2 and "labs.lab_z" in line and "lab_a" in line
    assert files_in(cwd) == []


def test_wrong_type_in_set(capsys, cwd):
    code, err = cli(capsys, "run", "--set", "adoption.imitation=lots", *SHORT, "--out", "r.csv")
    line = one_line(err)
    assert code == 2 and "adoption.imitation" in line and "'lots'" in line and "number" in line
    assert files_in(cwd) == []


def test_wrong_type_in_a_scenario_file(capsys, cwd):
    write(cwd / "s.toml", 'extends = "baseline"\n[simulation]\nmonths = "many"\n')
    code, err = cli(capsys, "run", "--scenario", "s.toml", "--out", "r.csv")
    line = one_line(err)
    assert code == 2 and "simulation.months" in line and "'many'" in line and "integer" in line
    assert files_in(cwd) == ["s.toml"]


def test_wrong_type_of_an_enum(capsys, cwd):
    code, err = cli(capsys, "run", "--set", "labs.lab_a.pricing_policy=haggle", *SHORT, "--out", "r.csv")
    line = one_line(err)
    assert code == 2 and "pricing_policy" in line
    assert all(choice in line for choice in ("hold", "cost_plus", "adaptive", "undercut"))


def test_value_out_of_range_names_the_range(capsys, cwd):
    code, err = cli(capsys, "run", "--set", "adoption.imitation=7", *SHORT, "--out", "r.csv")
    line = one_line(err)
    assert code == 2 and "adoption.imitation" in line and "[0, 5]" in line and "7" in line
    assert files_in(cwd) == []


def test_months_out_of_range_from_its_own_option(capsys, cwd):
    code, err = cli(capsys, "run", "--months", "0", "--out", "r.csv")
    line = one_line(err)
    assert code == 2 and "simulation.months" in line and "[1, 1200]" in line
    assert files_in(cwd) == []


def test_a_negative_seed_is_a_usage_error(capsys, cwd):
    code, err = cli(capsys, "run", "--seed", "-1", *SHORT, "--out", "r.csv")
    line = one_line(err)
    assert code == 2 and "--seed" in line
    assert files_in(cwd) == []


def test_a_set_without_equals_sign(capsys, cwd):
    code, err = cli(capsys, "run", "--set", "adoption.imitation", *SHORT, "--out", "r.csv")
    line = one_line(err)
    assert code == 2 and "KEY=VALUE" in line


def test_a_cycle_in_the_suppliers_upstream_lists(capsys, cwd):
    code, err = cli(
        capsys,
        "run",
        "--set",
        'suppliers.cowos.upstream=["grid"]',
        *SHORT,
        "--out",
        "r.csv",
    )
    line = one_line(err)
    assert code == 2 and "cycle" in line and "upstream" in line
    assert files_in(cwd) == []


def test_malformed_toml(capsys, cwd):
    write(cwd / "s.toml", "[simulation\nmonths = 3\n")
    code, err = cli(capsys, "run", "--scenario", "s.toml", "--out", "r.csv")
    line = one_line(err)
    assert code == 2 and "'s.toml' is not valid TOML" in line and "line 1" in line
    assert files_in(cwd) == ["s.toml"]


def test_a_scenario_file_that_is_not_text(capsys, cwd):
    (cwd / "s.toml").write_bytes(b"\xff\xfe\x00name = 1")
    code, err = cli(capsys, "run", "--scenario", "s.toml", "--out", "r.csv")
    line = one_line(err)
    assert code == 2 and "cannot be read" in line


def test_missing_scenario_file(capsys, cwd):
    code, err = cli(capsys, "run", "--scenario", "nowhere/s.toml", "--out", "r.csv")
    line = one_line(err)
    assert code == 2 and "'nowhere/s.toml' does not exist" in line and "baseline" in line
    assert files_in(cwd) == []


def test_unknown_bundled_scenario_lists_the_bundled_ones(capsys, cwd):
    code, err = cli(capsys, "run", "--scenario", "basline", "--out", "r.csv")
    line = one_line(err)
    assert code == 2 and "unknown scenario 'basline'" in line and "baseline" in line


def test_extends_a_file_that_is_missing(capsys, cwd):
    write(cwd / "s.toml", 'extends = "parent.toml"\n')
    code, err = cli(capsys, "run", "--scenario", "s.toml", "--out", "r.csv")
    line = one_line(err)
    assert code == 2 and "parent.toml" in line and "does not exist" in line


def test_params_command_answers_bad_input_the_same_way(capsys, cwd):
    code, err = cli(capsys, "params", "--set", "market.developer_population=0")
    line = one_line(err)
    assert code == 2 and "market.developer_population" in line and "[1, 1e+09]" in line


# ----- where the results go ---------------------------------------------------------------------
def test_unwritable_output_folder(capsys, cwd):
    write(cwd / "file", "not a folder")
    code, err = cli(capsys, "run", *SHORT, "--out", "file/r.parquet")
    line = one_line(err)
    assert code == 2 and "cannot be written" in line
    assert files_in(cwd) == ["file"]


def test_output_with_an_unknown_suffix(capsys, cwd):
    code, err = cli(capsys, "run", *SHORT, "--out", "r.xlsx")
    line = one_line(err)
    assert code == 2 and ".parquet or .csv" in line
    assert files_in(cwd) == []


def test_existing_output_is_refused_and_kept(capsys, cwd):
    write(cwd / "r.csv", "precious\n")
    code, err = cli(capsys, "run", *SHORT, "--out", "r.csv")
    line = one_line(err)
    assert code == 2 and "already exists" in line and "--overwrite" in line
    assert (cwd / "r.csv").read_text() == "precious\n"
    assert files_in(cwd) == ["r.csv"]


def test_existing_output_is_replaced_with_overwrite(capsys, cwd):
    write(cwd / "r.csv", "precious\n")
    code, _ = cli(capsys, "run", *SHORT, "--out", "r.csv", "--overwrite")
    assert code == 0
    table = pd.read_csv(cwd / "r.csv")
    assert list(table.columns) == ["date", "entity", "metric", "value"] and len(table) > 0
    assert files_in(cwd) == ["r.csv"]


def test_a_run_without_out_writes_a_new_file_each_time(cwd):
    """The README's main job can be run twice: each run writes its own file under runs/."""
    env = {**os.environ, "COLUMNS": "120"}
    for _ in range(2):
        done = subprocess.run([str(EXE), "run", *SHORT], cwd=cwd, capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        assert done.stderr.strip() == ""
    written = sorted((cwd / "runs").glob("baseline-*.parquet"))
    assert len(written) == 2
    for path in written:
        assert len(pd.read_parquet(path)) > 0
    assert files_in(cwd) == sorted(f"runs/{p.name}" for p in written)


def test_a_run_that_fails_after_it_began_exits_1_and_leaves_nothing(capsys, cwd, monkeypatch):
    """A failure while the table is being written: status 1, one line, no partial or temporary file."""

    def broken_writer(self, path, *args, **kwargs):
        Path(path).write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", broken_writer)
    code, err = cli(capsys, "run", *SHORT, "--out", "out/r.parquet")
    line = one_line(err)
    assert code == 1 and "the run failed" in line and "disk full" in line
    assert files_in(cwd) == []


def test_a_model_that_fails_mid_run_exits_1(capsys, cwd, monkeypatch):
    import agentmarket.model

    def broken_step(self):
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(agentmarket.model.MarketModel, "step", broken_step)
    code, err = cli(capsys, "run", *SHORT, "--out", "r.parquet")
    line = one_line(err)
    assert code == 1 and "ZeroDivisionError" in line
    assert files_in(cwd) == []


# ----- tracebacks only on request ---------------------------------------------------------------
def test_the_installed_command_answers_in_one_line_and_status_2(tmp_path):
    done = subprocess.run(
        [str(EXE), "run", "--set", "adoption.imitation=7", *SHORT, "--out", "r.csv"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    line = one_line(done.stderr)
    assert line.startswith("agentmarket: error: ") and "adoption.imitation" in line
    assert done.stderr == line + "\n", "nothing on stderr but the one error line"
    assert files_in(tmp_path) == []


def test_debug_shows_the_traceback(tmp_path):
    done = subprocess.run(
        [str(EXE), "--debug", "run", "--set", "adoption.imitation=7", *SHORT, "--out", "r.csv"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert "Traceback" in done.stderr and "InputError" in done.stderr
    assert files_in(tmp_path) == []


def test_debug_in_process_raises_the_error_itself(cwd):
    with pytest.raises(InputError, match=r"adoption\.imitation"):
        main(["--debug", "run", "--set", "adoption.imitation=7", *SHORT, "--out", "r.csv"])


# ----- sweeps -----------------------------------------------------------------------------------
def has_command(name: str) -> bool:
    import typer.main

    return name in typer.main.get_command(app).commands  # type: ignore[attr-defined]


needs_sweep = pytest.mark.skipif(not has_command("sweep"), reason="the sweep command is not in this build yet")

SWEEP_HEAD = (
    'scenario = "baseline"\nmonths = 1\nset = { "simulation.developer_agents" = 20 }\n[design]\nkind = "grid"\n'
)


@needs_sweep
def test_a_sweep_with_an_empty_design(capsys, cwd):
    write(cwd / "spec.toml", SWEEP_HEAD + '[parameters."adoption.imitation"]\nvalues = []\n')
    code, err = cli(capsys, "sweep", "spec.toml", "--out", "out")
    line = one_line(err)
    assert code == 2 and "adoption.imitation" in line and "values must not be empty" in line
    assert files_in(cwd) == ["spec.toml"] and not (cwd / "out").exists()


@needs_sweep
def test_a_sweep_whose_fixed_value_is_out_of_range_names_the_spec_once(capsys, cwd):
    head = SWEEP_HEAD.replace('"simulation.developer_agents" = 20', '"simulation.developer_agents" = 0')
    write(cwd / "spec.toml", head + '[parameters."adoption.imitation"]\nvalues = [0.1, 0.2]\n')
    code, err = cli(capsys, "sweep", "spec.toml", "--out", "out")
    line = one_line(err)
    assert code == 2 and "simulation.developer_agents" in line and "[1, 5000000]" in line
    assert line.count("sweep spec 'spec.toml'") == 1
    assert files_in(cwd) == ["spec.toml"] and not (cwd / "out").exists()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_sweep
def test_a_scheduler_that_does_not_answer(capsys, cwd):
    write(cwd / "spec.toml", SWEEP_HEAD + '[parameters."adoption.imitation"]\nvalues = [0.1, 0.2]\n')
    address = f"tcp://127.0.0.1:{closed_port()}"
    code, err = cli(capsys, "sweep", "spec.toml", "--out", "out", "--scheduler", address)
    line = one_line(err)
    assert code == 2 and address in line and "did not answer" in line
    assert files_in(cwd) == ["spec.toml"]


@needs_sweep
@pytest.mark.parametrize(
    "parameters",
    [
        "",
        '[parameters."adoption.imitation"]\nvalues = [0.3]\n',
        '[parameters."adoption.imitation"]\nvalues = [0.3, 0.3]\n',
        '[parameters."adoption.imitation"]\nmin = 0.1\nmax = 0.5\nlevels = 1\n',
    ],
    ids=["no-parameters", "one-value", "one-distinct-value", "one-level"],
)
def test_a_sweep_that_varies_no_parameter_is_refused(capsys, cwd, parameters):
    write(cwd / "spec.toml", SWEEP_HEAD + parameters)
    code, err = cli(capsys, "sweep", "spec.toml", "--out", "out")
    line = one_line(err)
    assert code == 2 and "varies no parameter" in line and "min and max" in line
    assert files_in(cwd) == ["spec.toml"] and not (cwd / "out").exists()


@pytest.mark.parametrize("command", [["run", *SHORT, "--out", "r.csv"], ["params"]])
def test_a_scenario_path_that_is_a_folder_is_named_as_such(capsys, cwd, command):
    (cwd / "folder.toml").mkdir()
    code, err = cli(capsys, command[0], "--scenario", "folder.toml", *command[1:])
    line = one_line(err)
    assert code == 2 and "'folder.toml' is not a regular file (a folder)" in line
    assert files_in(cwd) == []


def test_results_are_written_with_the_users_umask(cwd):
    """A colleague on the same machine can read the results: mode 0644 under umask 022, 0640 under 027."""
    for mask, mode in [(0o022, 0o644), (0o027, 0o640)]:
        out = cwd / f"r-{mask:o}.parquet"
        done = subprocess.run(
            ["bash", "-c", f'umask {mask:o} && "{EXE}" run {" ".join(SHORT)} --out {out}'],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        assert out.stat().st_mode & 0o777 == mode


def test_every_atomic_writer_gives_the_umask_mode(tmp_path):
    """Sweep files, reports and calibrated scenarios go through one writer that applies the umask."""
    from agentmarket.files import write_all_atomic, write_atomic

    old = os.umask(0o022)
    try:
        one = write_atomic(tmp_path / "a" / "one.txt", lambda p: p.write_text("1"), durable=True)
        write_all_atomic({tmp_path / "two.txt": lambda p: p.write_text("2")})
    finally:
        os.umask(old)
    assert one.stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "two.txt").stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["one.txt", "two.txt"]


# ----- posterior calibration and hindcast -------------------------------------------------------
def write_posterior(path: Path, drop: str | None = None) -> Path:
    from agentmarket.calibration.calibrate import load_free_parameters

    row = {p.key: (p.low + p.high) / 2 for p in load_free_parameters()}
    row["labs.lab_a.training_lookahead_months"] = 4.0
    table = pd.DataFrame([row, row]).assign(weight=[0.5, 0.5])
    if drop:
        table = table.drop(columns=drop)
    table.to_parquet(path, index=False)
    return path


def test_an_unknown_calibration_method_names_the_methods(capsys, cwd):
    code, err = cli(capsys, "calibrate", "--method", "mcmc", "--out", "o")
    line = one_line(err)
    assert code == 2 and "mcmc" in line and "optimize" in line and "abc" in line
    assert files_in(cwd) == []


def test_zero_particles_are_refused(capsys, cwd):
    code, err = cli(capsys, "calibrate", "--method", "abc", "--particles", "0", "--out", "o")
    line = one_line(err)
    assert code == 2 and "--particles" in line and "1" in line
    assert files_in(cwd) == []


def test_trials_do_not_apply_to_abc(capsys, cwd):
    code, err = cli(capsys, "calibrate", "--method", "abc", "--trials", "5", "--out", "o")
    assert code == 2 and "--trials" in one_line(err)
    assert files_in(cwd) == []


@pytest.mark.parametrize("cutoff", ["2024-13", "2024-1", "24-12", "2024/12", "december"])
def test_a_cutoff_that_is_not_a_month(capsys, cwd, cutoff):
    code, err = cli(capsys, "hindcast", "--cutoff", cutoff, "--out", "h")
    line = one_line(err)
    assert code == 2 and "YYYY-MM" in line
    assert files_in(cwd) == []


@pytest.mark.parametrize(("cutoff", "says"), [("2020-01", "to calibrate on"), ("2031-01", "to forecast")])
def test_a_cutoff_that_leaves_no_facts(capsys, cwd, cutoff, says):
    code, err = cli(capsys, "hindcast", "--cutoff", cutoff, "--out", "h")
    line = one_line(err)
    assert code == 2 and says in line and cutoff in line
    assert files_in(cwd) == []


def test_a_posterior_file_that_is_missing(capsys, cwd):
    for command in (["batch", "--out", "b"], ["compare", "baseline", "--out", "c"], ["validate"]):
        code, err = cli(capsys, *command, "--posterior", "nowhere.parquet", "--seeds", "2")
        line = one_line(err)
        assert code == 2 and "nowhere.parquet" in line and "does not exist" in line
    assert files_in(cwd) == []


def test_a_posterior_file_without_a_parameter_column(capsys, cwd):
    write_posterior(cwd / "p.parquet", drop="adoption.imitation")
    for command in (["batch", "--out", "b"], ["compare", "baseline", "--out", "c"], ["validate"]):
        code, err = cli(capsys, *command, "--posterior", "p.parquet", "--seeds", "2")
        line = one_line(err)
        assert code == 2 and "adoption.imitation" in line and "lacks" in line
    assert files_in(cwd) == ["p.parquet"]


def test_a_posterior_file_without_weights(capsys, cwd):
    write_posterior(cwd / "p.parquet", drop="weight")
    code, err = cli(capsys, "batch", "--out", "b", "--posterior", "p.parquet", "--seeds", "2")
    assert code == 2 and "'weight'" in one_line(err)
    assert files_in(cwd) == ["p.parquet"]


BAD_POSTERIORS = {
    "missing": ("nowhere.parquet", "does not exist"),
    "not parquet": ("notes.parquet", "not a readable parquet file"),
    "no weight": ("p.parquet", "'weight'"),
    "no parameter column": ("p.parquet", "adoption.imitation"),
}


def bad_posterior(cwd: Path, case: str) -> str:
    """A posterior file with the fault ``case`` names, written into ``cwd``; returns its name."""
    name, _says = BAD_POSTERIORS[case]
    if case == "not parquet":
        write(cwd / name, "adoption.imitation,weight\n0.3,1\n")
    elif case == "no weight":
        write_posterior(cwd / name, drop="weight")
    elif case == "no parameter column":
        write_posterior(cwd / name, drop="adoption.imitation")
    return name


@pytest.mark.parametrize("case", list(BAD_POSTERIORS))
def test_a_bad_posterior_file_stops_the_dashboard_command_before_it_serves(capsys, cwd, monkeypatch, case):
    import agentmarket.visualization.server as server

    def serve(*args, **kwargs):
        raise AssertionError("the dashboard started with a bad posterior file")

    monkeypatch.setattr(server, "serve", serve)
    before = files_in(cwd)
    name = bad_posterior(cwd, case)
    code, err = cli(capsys, "viz", "--posterior", name)
    line = one_line(err)
    assert code == 2 and name in line and BAD_POSTERIORS[case][1] in line
    assert files_in(cwd) == sorted({*before, *([name] if case != "missing" else [])})


@pytest.mark.parametrize("case", list(BAD_POSTERIORS))
def test_a_bad_posterior_file_is_a_message_beside_the_dashboards_posterior_field(cwd, case):
    from agentmarket.visualization.app import new_ensemble
    from agentmarket.visualization.state import ControlError, read_posterior

    name = bad_posterior(cwd, case)
    for attempt in (lambda: read_posterior(name), lambda: new_ensemble("baseline", {"developers": 20}, 0, 2, name)):
        with pytest.raises(ControlError) as err:
            attempt()
        assert err.value.control == "posterior"
        assert name in err.value.message and BAD_POSTERIORS[case][1] in err.value.message
        assert "\n" not in err.value.message and "Traceback" not in err.value.message


def test_a_page_started_with_a_bad_posterior_runs_without_one_and_names_the_file(cwd, monkeypatch):
    import ipyvuetify as v
    import solara

    from agentmarket.visualization.app import Page
    from agentmarket.visualization.state import POSTERIOR_ENV

    monkeypatch.setenv(POSTERIOR_ENV, str(cwd / "nowhere.parquet"))
    _box, rc = solara.render(Page(), handle_error=False)

    shown = [str(w.children) for w in rc.find(v.Html).widgets if "am-error-posterior" in (w.class_ or "")]
    assert len(shown) == 1 and "nowhere.parquet" in shown[0] and "does not exist" in shown[0]
    assert not [w for w in rc.find(v.Html).widgets if "am-posterior-caption" in (w.class_ or "")]


# ----- where many runs execute: --workers and --scheduler on every many-run command ---------------
MANY_RUN_COMMANDS = {
    "batch": ["batch", "--seeds", "1", "--months", "1", "--out", "out"],
    "sweep": ["sweep", "spec.toml", "--out", "out"],
    "compare": ["compare", "baseline", "--seeds", "1", "--months", "1", "--developers", "20", "--out", "out"],
    "validate": ["validate", "--seeds", "1", "--developers", "20"],
    "calibrate": ["calibrate", "--trials", "1", "--seeds", "1", "--developers", "20", "--out", "out.toml"],
    "convergence": ["convergence", "--sizes", "20,40", "--seeds", "2", "--months", "1", "--out", "out.png"],
}
SPEC_BODY = SWEEP_HEAD + '[parameters."adoption.imitation"]\nvalues = [0.1, 0.2]\n'


def many_run(cwd: Path, command: str, *extra: str) -> list[str]:
    """The arguments of a tiny run of ``command`` (with its spec file for a sweep)."""
    if command == "sweep":
        write(cwd / "spec.toml", SPEC_BODY)
    return [*MANY_RUN_COMMANDS[command], *extra]


def untouched(cwd: Path) -> bool:
    return files_in(cwd) in ([], ["spec.toml"]) and not (cwd / "out").exists()


@pytest.mark.parametrize("command", MANY_RUN_COMMANDS)
def test_every_many_run_command_takes_workers_and_scheduler(command, capsys):
    assert main([command, "--help"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "--workers" in shown and "--scheduler" in shown


@pytest.mark.parametrize("command", MANY_RUN_COMMANDS)
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--workers", "0"), "--workers must be a whole number of at least 1 (got 0)"),
        (("--workers", "-2"), "--workers must be a whole number of at least 1 (got -2)"),
        (("--scheduler", "127.0.0.1:8786"), "expected an address like tcp://HOST:PORT"),
        (("--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"), "not both"),
    ],
)
def test_bad_workers_or_scheduler_on_every_many_run_command(command, extra, message, capsys, cwd):
    code, err = cli(capsys, *many_run(cwd, command, *extra))
    line = one_line(err)
    assert code == 2 and message in line
    assert untouched(cwd)


@pytest.mark.parametrize("command", MANY_RUN_COMMANDS)
def test_a_scheduler_that_does_not_answer_on_every_many_run_command(command, capsys, cwd):
    address = f"tcp://127.0.0.1:{closed_port()}"
    code, err = cli(capsys, *many_run(cwd, command, "--scheduler", address))
    line = one_line(err)
    assert code == 2 and address in line and "did not answer within 5 s" in line
    assert untouched(cwd)
