"""The ``agentmarket`` command line: parses, calls the package, prints.

Bad input ends in one line on stderr and exit status 2; a run that fails after it began, in
one line and exit status 1. ``--debug`` (before the command) shows the traceback instead.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console

from agentmarket.errors import InputError

app = typer.Typer(
    name="agentmarket",
    help="An agent-based model of the market for AI coding agents.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
console = Console()
STATE = {"debug": False}

ScenarioOpt = Annotated[str, typer.Option("--scenario", "-s", help="bundled scenario name or path to a .toml file")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="override a parameter: dotted.key=value (repeatable)")]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        help="worker processes: 1 runs in this process, more start a local Dask cluster (default: this machine's cores)",
    ),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option("--scheduler", help="run on the existing Dask cluster at this address, e.g. tcp://host:8786"),
]
PosteriorOpt = Annotated[
    Path | None,
    typer.Option("--posterior", help="posterior.parquet of a calibration: each run draws its parameters from it"),
]


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="show tracebacks on errors")] = False) -> None:
    STATE["debug"] = debug


def _params(scenario: str, sets: list[str] | None, months: int | None = None, developers: int | None = None):
    from agentmarket.scenarios import load_scenario

    overrides = list(sets or [])
    if months is not None:
        overrides.append(f"simulation.months={months}")
    if developers is not None:
        overrides.append(f"simulation.developer_agents={developers}")
    return load_scenario(scenario, overrides)


def default_out_path(name: str) -> Path:
    """A new file under runs/ for a run without --out, never overwriting an earlier one."""
    from datetime import datetime

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path("runs") / f"{name}-{stamp}.parquet"
    n = 1
    while path.exists():
        n += 1
        path = Path("runs") / f"{name}-{stamp}-{n}.parquet"
    return path


@app.command()
def run(
    scenario: ScenarioOpt = "baseline",
    set_: SetOpt = None,
    seed: Annotated[int, typer.Option(help="random seed", min=0)] = 0,
    months: Annotated[int | None, typer.Option(help="months to simulate (default: the scenario's)")] = None,
    developers: Annotated[int | None, typer.Option(help="developer agents (default: the scenario's)")] = None,
    out: Annotated[
        Path | None, typer.Option(help="results file, .parquet or .csv (default: a new file in runs/)")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="replace --out if it exists")] = False,
) -> None:
    """Run one scenario: print a summary table and write the monthly results."""
    from agentmarket.display import print_table, run_summary_table
    from agentmarket.output import check_output_path, run_scenario, summary_rows, write_table

    params = _params(scenario, set_, months, developers)
    path = check_output_path(out if out is not None else default_out_path(params.name), overwrite)
    with console.status(
        f"running {params.name}: {params.simulation.months} months, "
        f"{params.simulation.developer_agents:,} developer agents"
    ):
        _model, table = run_scenario(params, seed)
    write_table(table, path)
    print_table(run_summary_table(params.name, seed, summary_rows(table)), console)
    console.print(f"wrote {len(table):,} rows to {path}")


@app.command()
def params(scenario: ScenarioOpt = "baseline", set_: SetOpt = None) -> None:
    """List every parameter with its value, unit, allowed range and description."""
    from agentmarket.display import params_table, print_table
    from agentmarket.scenarios import describe_params

    print_table(params_table(scenario, describe_params(_params(scenario, set_))), console)


@app.command()
def scenarios() -> None:
    """List the bundled scenarios, one line each."""
    from agentmarket.scenarios import list_scenarios

    for name, description in list_scenarios():
        print(f"{name:<22} {description}")


@app.command()
def compare(
    scenario_names: Annotated[
        list[str] | None, typer.Argument(metavar="SCENARIO...", help="bundled names or .toml paths")
    ] = None,
    seeds: Annotated[int, typer.Option(help="run seeds 0..N-1 of every scenario")] = 10,
    out: Annotated[Path, typer.Option(help="folder for compare.png and compare.csv (created)")] = Path("runs/compare"),
    months: Annotated[int | None, typer.Option(help="months to simulate (default: the scenarios')")] = None,
    developers: Annotated[int | None, typer.Option(help="developer agents (default: the scenarios')")] = None,
    set_: SetOpt = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    posterior: PosteriorOpt = None,
) -> None:
    """Run scenarios side by side over seeds; write a figure of the key series and a table of bands.

    With --posterior, seed s of every scenario draws the same free parameters from the
    posterior; draws.csv in --out records them.
    """
    from agentmarket.display import run_progress
    from agentmarket.experiments.compare import check_counts, check_out_dir, compare_scenarios, load_all

    scenario_names = scenario_names or []
    check_counts(seeds, workers, scheduler)
    load_all(scenario_names, months, developers, set_ or [])
    post = None
    if posterior is not None:
        from agentmarket.calibration.posterior import load_posterior

        post = load_posterior(posterior)
    check_out_dir(out)
    with run_progress(console) as bar:
        task = bar.add_task("running", total=len(scenario_names) * seeds)
        result = compare_scenarios(
            scenario_names,
            seeds=seeds,
            out=out,
            months=months,
            developers=developers,
            sets=set_ or [],
            workers=workers,
            scheduler=scheduler,
            on_run_done=lambda name, seed: bar.update(task, advance=1, description=f"{name} seed {seed}"),
            posterior=post,
        )
    console.print(f"wrote {result.figure} and {result.table} ({len(result.summary):,} rows)")


@app.command()
def viz(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on", min=1, max=65535)] = 8765,
    posterior: PosteriorOpt = None,
) -> None:
    """Start the live dashboard in the browser (Solara), until Ctrl-C.

    With --posterior, the page's runs draw their free parameters from the posterior by their
    seeds, as batch's runs of the same seeds do, so its bands carry parameter uncertainty too.
    """
    from agentmarket.visualization.server import serve

    drawn_from = None
    if posterior is not None:
        from agentmarket.calibration.posterior import load_posterior
        from agentmarket.scenarios import load_raw
        from agentmarket.visualization.state import DEFAULT_SCENARIO

        load_posterior(posterior).check(load_raw(DEFAULT_SCENARIO))
        drawn_from = str(posterior.resolve())
    status = serve(host, port, drawn_from)
    if status:
        raise typer.Exit(status)


ResumeOpt = Annotated[bool, typer.Option("--resume", help="finish a sweep in --out; finished runs are not rerun")]
QuietOpt = Annotated[bool, typer.Option("--quiet", help="no progress bar")]


def _run_sweep(
    spec, out: Path, workers: int | None, scheduler: str | None, resume: bool, quiet: bool, posterior=None
) -> None:
    from agentmarket.experiments import run_sweep

    outcome = run_sweep(
        spec, out, workers=workers, scheduler=scheduler, resume=resume, progress=not quiet, posterior=posterior
    )
    print(
        f"{outcome.runs} runs in {out}: {outcome.skipped} done before, {outcome.ok} done now, "
        f"{outcome.failed} failed ({outcome.seconds:.1f} s)"
    )
    if outcome.failed:
        print(
            f"agentmarket: error: {outcome.failed} runs failed; their errors are in {out / 'manifest.jsonl'}",
            file=sys.stderr,
        )
        raise typer.Exit(1)


@app.command()
def batch(
    scenario: ScenarioOpt = "baseline",
    seeds: Annotated[int, typer.Option(help="replicates, each with its own seed", min=1)] = 10,
    set_: SetOpt = None,
    seed: Annotated[int, typer.Option(help="batch seed from which every run's seed is spawned", min=0)] = 0,
    months: Annotated[int | None, typer.Option(help="months to simulate (default: the scenario's)")] = None,
    metric: Annotated[
        list[str] | None, typer.Option("--metric", help="entity.metric to keep, * matches any text (repeatable)")
    ] = None,
    summary: Annotated[bool, typer.Option("--summary", help="keep summary statistics per run, not months")] = False,
    out: Annotated[Path, typer.Option(help="folder for the results (new, or this batch with --resume)")] = Path(
        "runs/batch"
    ),
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    resume: ResumeOpt = False,
    quiet: QuietOpt = False,
    posterior: PosteriorOpt = None,
) -> None:
    """Run replicates of one scenario; each run is written as it finishes.

    With --posterior, each run draws its free parameters from the posterior by its run seed;
    the manifest records the values it ran with.
    """
    from agentmarket.experiments import batch_spec

    spec = batch_spec(
        scenario,
        seeds,
        set_ or [],
        seed=seed,
        months=months,
        metrics=metric or ["market.*"],
        keep="summary" if summary else "series",
    )
    post = None
    if posterior is not None:
        from agentmarket.calibration.posterior import load_posterior

        post = load_posterior(posterior)
    _run_sweep(spec, out, workers, scheduler, resume, quiet, posterior=post)


@app.command()
def sweep(
    spec_file: Annotated[Path, typer.Argument(metavar="SPEC.toml", help="the sweep spec")],
    out: Annotated[Path, typer.Option(help="folder for the results (new, or this sweep with --resume)")],
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    resume: ResumeOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Run a parameter sweep (grid, lhs, sobol, morris); each run is written as it finishes."""
    from agentmarket.experiments import load_spec

    _run_sweep(load_spec(spec_file), out, workers, scheduler, resume, quiet)


@app.command()
def report(folder: Annotated[Path, typer.Argument(metavar="DIR", help="the --out folder of a sweep or batch")]) -> None:
    """Summary statistics, fan charts and sensitivity indices of a sweep: PNG figures and one HTML page."""
    from agentmarket.experiments import make_report

    result = make_report(folder)
    for note in result.notes:
        print(f"note: {note}")
    print(f"wrote {len(result.figures)} figures and {len(result.tables)} tables; open {result.page}")


@app.command()
def discover(
    folder: Annotated[Path, typer.Argument(metavar="SWEEP_DIR", help="the --out folder of a sweep")],
    outcome: Annotated[
        str,
        typer.Option(
            "--outcome",
            help="comparison over run summaries, e.g. 'grid.binding.first <= 2027' (<, <=, >, >=, ==, !=; and, or, not)",
        ),
    ],
    boxes: Annotated[int, typer.Option(help="PRIM boxes to find, one after another")] = 1,
    threshold: Annotated[float, typer.Option(help="density a reported PRIM box should reach")] = 0.8,
    peel_alpha: Annotated[float, typer.Option("--peel-alpha", help="share of a box PRIM peels per step")] = 0.05,
    mass_min: Annotated[float, typer.Option("--mass-min", help="smallest share of the runs a box may hold")] = 0.05,
) -> None:
    """Scenario discovery: which parameter ranges make the outcome happen (PRIM boxes, a CART tree, feature scores)."""
    from agentmarket.display import box_lines
    from agentmarket.experiments.discover import discover as find

    result = find(folder, outcome, boxes=boxes, threshold=threshold, peel_alpha=peel_alpha, mass_min=mass_min)
    print(f"{result.hits} of {result.runs} runs show {outcome!r}")
    for line in box_lines(result.boxes):
        print(line)
    print(
        f"wrote {len(result.figures)} figures and {len(result.tables)} tables to {result.folder}; open {result.report}"
    )


@app.command()
def bench(
    sizes: Annotated[str, typer.Option(help="developer agent counts, comma-separated")] = "2000,10000,100000,1000000",
    months: Annotated[int, typer.Option(help="months per run of the model and the kernel", min=1)] = 24,
    seed: Annotated[int, typer.Option(help="random seed", min=0)] = 0,
    rounds: Annotated[int, typer.Option(help="rounds of model, kernel and Boltzmann per size (medians)", min=1)] = 5,
) -> None:
    """Benchmark the developer population against Mesa's Boltzmann model and a bare numpy kernel.

    Prints a table, the performance targets, and last one JSON line with every figure.
    """
    from agentmarket import bench as b
    from agentmarket.display import bench_table, print_table, target_lines

    counts = b.parse_sizes(sizes)
    with console.status("benchmarking") as status:
        results, overhead = b.run_bench(
            counts, months, seed, progress=lambda msg: status.update(f"benchmarking: {msg}"), rounds=rounds
        )
    print_table(bench_table(results, months, seed), console)
    console.print(
        f"month_overhead_ms (a month at {b.OVERHEAD_AGENTS} developer agents): {overhead['month_overhead_ms']:.2f}"
    )
    for line in target_lines(b.check_targets(results, overhead)):
        console.print(line)
    print(b.json_line(results, months, seed, overhead), flush=True)


@app.command()
def validate(
    scenario: ScenarioOpt = "baseline",
    seeds: Annotated[int, typer.Option(help="seeds to run (0..N-1)", min=1)] = 10,
    developers: Annotated[int | None, typer.Option(help="developer agents (default: the scenario's)")] = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    posterior: PosteriorOpt = None,
) -> None:
    """Compare the scenario with the public figures over seeds; exit 1 if a fact is missed.

    With --posterior, each seed's run draws its free parameters from the posterior, and the
    share of facts inside their 90% predictive interval (the runs' 5-95% range) is reported.
    """
    from agentmarket.calibration.validate import run_jobs, run_seeds, validation_table
    from agentmarket.display import coverage_line, print_table, validation_table_view, validation_verdict

    params = _params(scenario, None, None, developers)
    jobs = None
    if posterior is not None:
        from agentmarket.calibration.posterior import load_posterior, posterior_jobs

        sets = [] if developers is None else [f"simulation.developer_agents={developers}"]
        jobs = posterior_jobs(scenario, sets, load_posterior(posterior), list(range(seeds)))
    with console.status(f"running {params.name} over {seeds} seeds"):
        if jobs is not None:
            tables = run_jobs(jobs, workers=workers, scheduler=scheduler)
        else:
            tables = run_seeds(params, range(seeds), workers=workers, scheduler=scheduler)
        table = validation_table(tables)
    drawn_from = posterior if jobs is not None else None
    print_table(validation_table_view(table, params.name, seeds, drawn_from), console)
    line, held = validation_verdict(table)
    print(line)
    if jobs is not None:
        from agentmarket.calibration.posterior import coverage

        print(coverage_line(*coverage(table)))
    if not held:
        raise typer.Exit(1)


class CalibrationMethod(StrEnum):
    """How ``calibrate`` fits the free parameters."""

    OPTIMIZE = "optimize"
    ABC = "abc"


AbcSeedOpt = Annotated[int, typer.Option("--seed", help="seed of the ABC sampler", min=0)]


@app.command()
def calibrate(
    scenario: ScenarioOpt = "baseline",
    method: Annotated[
        CalibrationMethod,
        typer.Option(help="optimize: one best fit (optuna); abc: a posterior (pyabc ABC-SMC)", case_sensitive=False),
    ] = CalibrationMethod.OPTIMIZE,
    trials: Annotated[int | None, typer.Option(help="optimiser trials (optimize; default 200)", min=1)] = None,
    particles: Annotated[int | None, typer.Option(help="particles per generation (abc; default 100)", min=1)] = None,
    generations: Annotated[int | None, typer.Option(help="generations (abc; default 4)", min=1)] = None,
    seeds: Annotated[int, typer.Option(help="seeds per trial or particle", min=1)] = 3,
    developers: Annotated[
        int | None, typer.Option(help="developer agents per run (default: the scenario's)", min=1)
    ] = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    seed: AbcSeedOpt = 0,
    out: Annotated[
        Path | None,
        typer.Option(help="optimize: scenario file (.toml, default calibrated.toml); abc: folder (default runs/abc)"),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="replace --out if it exists (optimize)")] = False,
) -> None:
    """Fit the free parameters to the fact targets: a best fit, or a posterior with --method abc."""
    if method is CalibrationMethod.ABC:
        if trials is not None:
            raise InputError("--trials applies to --method optimize; --method abc takes --particles and --generations")
        from agentmarket.calibration.abc import run_abc

        _params(scenario, None)
        result = run_abc(
            scenario,
            particles=particles or 100,
            generations=generations or 4,
            seeds=seeds,
            developers=developers,
            workers=workers,
            scheduler=scheduler,
            out=out or Path("runs/abc"),
            seed=seed,
            progress=_abc_progress,
        )
        _print_posterior(result)
        return
    if particles is not None or generations is not None:
        raise InputError("--particles and --generations apply to --method abc")
    from agentmarket.calibration.calibrate import calibrate as fit
    from agentmarket.calibration.calibrate import write_calibrated_scenario

    out = out or Path("calibrated.toml")
    if out.suffix != ".toml":
        raise InputError(f"--out {str(out)!r}: the scenario file must end in .toml")
    if out.exists() and not overwrite:
        raise InputError(f"--out {str(out)!r} already exists; pass --overwrite to replace it")
    _params(scenario, None)
    best, loss = fit(
        scenario, trials=trials or 200, seeds=seeds, developers=developers, workers=workers, scheduler=scheduler
    )
    write_calibrated_scenario(scenario, best, loss, out)
    for key, value in best.items():
        print(f"{key} = {value:.6g}")
    print(f"loss {loss:.4g}; wrote {out}")


def _abc_progress(t: int, accepted: int, evaluations: int) -> None:
    from agentmarket.display import abc_progress_line

    print(abc_progress_line(t, accepted, evaluations), file=sys.stderr, flush=True)


def _print_posterior(result) -> None:
    from agentmarket.calibration.abc import credible_intervals
    from agentmarket.display import posterior_table, print_table

    print_table(posterior_table(result.posterior, credible_intervals(result.posterior)), console)
    resumed = f", resumed after generation {result.resumed_from - 1}" if result.resumed_from else ""
    print(
        f"{result.generations} generations, {result.evaluations} evaluations, final epsilon {result.epsilon:.3g}"
        f"{resumed}; wrote {', '.join(str(f) for f in result.files)}"
    )


@app.command()
def hindcast(
    cutoff: Annotated[str, typer.Option(help="last month whose facts are known (YYYY-MM)")],
    scenario: ScenarioOpt = "baseline",
    particles: Annotated[int, typer.Option(help="ABC particles per generation", min=1)] = 100,
    generations: Annotated[int, typer.Option(help="ABC generations", min=1)] = 4,
    seeds: Annotated[int, typer.Option(help="seeds per particle", min=1)] = 3,
    developers: Annotated[
        int | None, typer.Option(help="developer agents per run (default: the scenario's)", min=1)
    ] = None,
    runs: Annotated[int | None, typer.Option(help="posterior predictive runs (default: --particles)", min=2)] = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    seed: AbcSeedOpt = 0,
    out: Annotated[Path, typer.Option(help="folder for the calibration, forecasts and scoreboard")] = Path(
        "runs/hindcast"
    ),
) -> None:
    """Calibrate on the facts up to --cutoff, forecast every later fact, and score the forecasts.

    Prints each later fact's 90% predictive interval, whether the fact lies inside, its
    interval score, the same for a naive benchmark, and last one JSON line.
    """
    from agentmarket.calibration.hindcast import json_line, parse_cutoff, run_hindcast, split_facts
    from agentmarket.display import hindcast_table, print_table

    cutoff = parse_cutoff(cutoff)
    split_facts(cutoff)
    _params(scenario, None)
    h = run_hindcast(
        cutoff,
        scenario,
        particles=particles,
        generations=generations,
        seeds=seeds,
        developers=developers,
        runs=runs,
        workers=workers,
        scheduler=scheduler,
        out=out,
        seed=seed,
        progress=_abc_progress,
    )
    print(f"calibrated on {len(h.calibrated_on)} facts dated up to {cutoff}: {', '.join(h.calibrated_on)}")
    print_table(hindcast_table(h.scoreboard, cutoff), console)
    print(f"wrote {out / 'scoreboard.csv'} and {out / 'forecasts.parquet'}")
    print(json_line(h), flush=True)


@app.command()
def convergence(
    scenario: ScenarioOpt = "baseline",
    sizes: Annotated[str, typer.Option(help="developer-agent counts, comma-separated")] = "12500,50000,200000",
    seeds: Annotated[int, typer.Option(help="seeds per count", min=2)] = 5,
    months: Annotated[int, typer.Option(help="months to simulate", min=1)] = 48,
    out: Annotated[Path, typer.Option(help="figure to write (.png)")] = Path("runs/convergence.png"),
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """Market outputs at several agent counts: do they agree within their seed-to-seed spread?"""
    from agentmarket.calibration.convergence import agreement, convergence_table, plot_convergence
    from agentmarket.display import agreement_text

    try:
        counts = tuple(int(x) for x in sizes.split(","))
    except ValueError:
        raise InputError(f"--sizes {sizes!r}: expected whole numbers separated by commas, e.g. 2000,10000") from None
    if any(n < 1 for n in counts):
        raise InputError(f"--sizes {sizes!r}: every agent count must be at least 1")
    _params(scenario, None)
    table = convergence_table(counts, seeds, scenario, months, workers=workers, scheduler=scheduler)
    plot_convergence(table, out)
    print(agreement_text(agreement(table)))
    print(f"wrote {out}")


USAGE_ERRORS = tuple({getattr(typer, "TyperException", click.ClickException), click.ClickException})
"""Usage errors: typer's own copy of click raises ``typer.TyperException``s; older typer, click's."""
EXITS = tuple({typer.Exit, click.exceptions.Exit})
ABORTS = tuple({typer.Abort, click.exceptions.Abort})


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app and turn every error into one line and an exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if all(arg == "--debug" for arg in args):
        args.append("--help")
    try:
        rc = app(args=args, prog_name="agentmarket", standalone_mode=False)
    except InputError as exc:
        if debug:
            raise
        print(f"agentmarket: error: {exc}", file=sys.stderr)
        return 2
    except EXITS as exc:
        return exc.exit_code
    except ABORTS:
        print("agentmarket: aborted", file=sys.stderr)
        return 130
    except USAGE_ERRORS as exc:
        if debug:
            raise
        print(f"agentmarket: error: {' '.join(exc.format_message().split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("agentmarket: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        print(
            f"agentmarket: error: the run failed: {type(exc).__name__}: {' '.join(str(exc).split())}", file=sys.stderr
        )
        return 1
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    sys.exit(main())
