"""Command line: `python -m ml <command>`. Run `python -m ml --help` for the list."""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path


def _generate(args) -> int:
    from ml.generate import ShopSpec, write_shop

    counts = write_shop(ShopSpec(customers=args.customers, seed=args.seed, weeks=args.weeks), Path(args.out))
    print(f"wrote a shop of {args.customers} customers to {args.out}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    return 0


def _in_workspace(args):
    """The block runs against `--workspace` (its own warehouse, MLflow store and Airflow home), else var/."""
    import contextlib

    from ml import settings

    return settings.workspace(workspace_dir(args.workspace)) if args.workspace else contextlib.nullcontext()


def workspace_dir(value: str) -> Path:
    """`--workspace`: a folder, or a bare shop name (no slash, no dot in front), kept under var/shops/."""
    from ml import settings

    if "/" not in value and not value.startswith("."):
        return settings.REPO_ROOT / "var" / "shops" / value
    return Path(value).resolve()


def _checked_as_of(value: str | None) -> bool:
    """A malformed --as-of stops the command before anything starts, with what was wrong."""
    from ml.orchestration import parse_date

    try:
        parse_date(value)
    except ValueError as error:
        print(f"--as-of: {error}", file=sys.stderr)
        return False
    return True


def _checked_encoding(value: str | None) -> bool:
    from ml.ingest import SourceError, check_encoding

    try:
        check_encoding(value)
    except SourceError as error:
        print(str(error), file=sys.stderr)
        return False
    return True


def _run(args) -> int:
    from ml import pipeline, settings, summary

    if not _checked_as_of(args.as_of) or not _checked_encoding(args.encoding):
        return 2

    with _in_workspace(args):
        try:
            status = pipeline.run_pipeline(args.source, args.as_of, encoding=args.encoding,
                                           repeated_lines=args.repeated_lines, verbose=args.verbose)
        except pipeline.WorkspaceBusy as busy:
            print(str(busy), file=sys.stderr)
            return 3
        if status != 0:
            print(_stopped(status, args.verbose), file=sys.stderr)
            return status
        print(summary.summary())
        print(f"workspace: {settings.state_dir()}")
    return 0


def _stopped(status: int, verbose: bool = False) -> str:
    """What a run that stopped changed, and last what failed, from its journal; where the whole story is."""
    from ml import pipeline, run_journal

    journal = pipeline.journal_path()
    log = "the task log above" if verbose else f"Airflow's log {pipeline.log_path()}"
    return (f"\nThe pipeline stopped (exit {status}).\n{run_journal.describe(run_journal.read(journal))}\n"
            f"(details in {log}; journal {journal})")


def _demo(args) -> int:
    from ml import pipeline, settings, summary
    from ml.generate import ShopSpec, write_shop

    shop = settings.state_dir() / "data" / "demo_shop"
    if not (shop / "order_lines.csv").exists():
        write_shop(ShopSpec(customers=args.customers, seed=args.seed), shop)
        print(f"generated a demo shop of {args.customers} customers in {shop}")
    try:
        status = pipeline.run_pipeline(str(shop), args.as_of, verbose=args.verbose)
    except pipeline.WorkspaceBusy as busy:
        print(str(busy), file=sys.stderr)
        return 3
    if status != 0:
        print(_stopped(status, args.verbose), file=sys.stderr)
        return status
    print(summary.summary())
    return 0


def _rollback(args) -> int:
    from ml import promotion
    from ml.warehouse import connect

    with connect() as wh:
        target = promotion.rollback_champion(wh, args.model, args.version, args.reason)
    print(f"{args.model}@champion now points at version {target.version} (run {target.run_id}); recorded in ops.model_promotions")
    return 0


def _status(args) -> int:
    from ml import summary

    with _in_workspace(args):
        print(summary.summary())
    return 0


def _report(args) -> int:
    from ml.report import page

    if not _checked_as_of(args.as_of):
        return 2
    with _in_workspace(args):
        written = page.run_write_report(args.as_of)
    print(f"marketing report for {written['as_of']}: {written['report']}")
    return 0


def _evaluate(args) -> int:
    import datetime as dt
    import shlex

    from ml import quality, quality_report

    try:
        as_of = dt.date.fromisoformat(args.as_of)
    except ValueError:
        print(f"--as-of must be YYYY-MM-DD, got {args.as_of!r}", file=sys.stderr)
        return 2
    command = f"python -m ml evaluate --source {shlex.quote(args.source)} --as-of {args.as_of}" + (
        f" --shop {shlex.quote(args.shop)}" if args.shop else "")
    report = quality.evaluate_source(Path(args.source), as_of, shop=args.shop,
                                     workspace=workspace_dir(args.workspace) if args.workspace else None, command=command,
                                     verbose=args.verbose)
    results = quality.save_results(quality.load_results(Path(args.results)), report, Path(args.results))
    quality_report.write_markdown(results, Path(args.out))
    print("\n".join(quality_report.summary_rows({report.shop: report.as_dict()})))
    print(f"\nresults in {args.out} (raw figures: {args.results})")
    if not args.no_mlflow:
        print(f"logged to MLflow experiment valueflow-quality, run {quality_report.log_to_mlflow(report.as_dict(), Path(args.out))}")
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _bench(args) -> int:
    from benchmarks import report
    from benchmarks.runner import BenchConfig, bench_command, run_benchmark

    config = BenchConfig(sizes=args.customers, seed=args.seed, to_sql_max_rows=args.to_sql_max_rows,
                         duckdb_to_sql_max_rows=args.duckdb_to_sql_max_rows, dag_run=not args.no_dag_run, keep=args.keep,
                         memory_limit_mib=args.memory_limit_gib * 1024, stage_timeout_s=args.stage_timeout_s,
                         budget_s=args.budget_min * 60 if args.budget_min else None, stages=args.stages,
                         families=args.families)
    machine = report.describe_machine(config.pg_admin_url)
    earlier = report.load_results(args.results) if args.merge else None

    def save(results: dict) -> None:
        combined = report.merge(earlier, report.finish(results, bench_command(), machine))
        report.save_results(combined, args.results)
        report.write_markdown(combined, Path(args.out))

    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the stage processes too, and keeps the figures so far
    results = run_benchmark(config, progress=save)
    save(results)
    print(f"\nresults in {args.out} (raw figures: {args.results})")
    if not args.no_mlflow:
        run_id = report.log_to_mlflow(report.finish(results, bench_command(), machine), Path(args.out))
        print(f"logged to MLflow experiment valueflow-{report.EXPERIMENT}, run {run_id}")
    failed = [s["stage"] for size in results["sizes"] for s in size["stages"] if not s["ok"]]
    if failed:
        print(f"stages that failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml", description="ValueFlow command line")
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser("generate", help="write a deterministic synthetic shop")
    generate.add_argument("--customers", type=int, default=2000)
    generate.add_argument("--seed", type=int, default=7)
    generate.add_argument("--weeks", type=int, default=104)
    generate.add_argument("--out", default="var/data/shop")
    generate.set_defaults(func=_generate)
    run = commands.add_parser("run", help="run the DAGs under Airflow on an export (CSV/XLSX or shop folder)")
    run.add_argument("--source", required=True)
    run.add_argument("--as-of", dest="as_of", default=None, help="YYYY-MM-DD (default: day after the last order)")
    run.add_argument("--workspace", default=None,
                     help="keep this shop's warehouse, MLflow store and Airflow home here: a folder, or a shop "
                          "name for var/shops/NAME (default: var/)")
    run.add_argument("--encoding", default=None,
                     help="the CSV files' encoding, e.g. latin-1 (default: UTF-8; Latin-1 for a file with no UTF-8 "
                          "in it; a file that mixes both is refused)")
    run.add_argument("--repeated-lines", dest="repeated_lines", choices=["keep", "drop", "fail"], default=None,
                     help="order lines that repeat an earlier one exactly: keep them (counted), drop them (counted) "
                          "or fail (default: VALUEFLOW_REPEATED_LINES, else keep; over 20%% repeated always fails)")
    run.add_argument("--verbose", action="store_true", help="print Airflow's own output instead of one line per DAG")
    run.set_defaults(func=_run)
    demo = commands.add_parser("demo", help="generate a shop and run the whole pipeline on it")
    demo.add_argument("--customers", type=int, default=2000)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--as-of", dest="as_of", default=None)
    demo.add_argument("--verbose", action="store_true", help="print Airflow's own output instead of one line per DAG")
    demo.set_defaults(func=_demo)
    rollback = commands.add_parser("rollback", help="point a model's champion alias back at an earlier version")
    rollback.add_argument("--model", required=True)
    rollback.add_argument("--version", required=True)
    rollback.add_argument("--reason", default="manual rollback")
    rollback.set_defaults(func=_rollback)
    status = commands.add_parser("status", help="print where everything is, marts and champions")
    status.add_argument("--workspace", default=None, help="the workspace `run --workspace` used (default: var/)")
    status.set_defaults(func=_status)
    report = commands.add_parser("report", help="write the marketer's HTML report (segments, tiers, audiences, "
                                 "recommendations, forecast) for an as-of date")
    report.add_argument("--as-of", dest="as_of", default=None, help="YYYY-MM-DD (default: the last export's)")
    report.add_argument("--workspace", default=None, help="the workspace `run --workspace` used (default: var/)")
    report.set_defaults(func=_report)
    evaluate = commands.add_parser("evaluate", help="run the pipeline on the history before --as-of, then score "
                                   "every mart on what happened after it, beside the simple baselines")
    evaluate.add_argument("--source", required=True, help="the whole export (.csv, .csv.gz, .xlsx or a shop folder)")
    evaluate.add_argument("--as-of", dest="as_of", required=True, help="YYYY-MM-DD: the models see only orders before it")
    evaluate.add_argument("--shop", default=None, help="the shop's name in the report (default: the file's name)")
    evaluate.add_argument("--workspace", default=None, help="keep the run here (default: a throw-away folder)")
    evaluate.add_argument("--out", default="docs/quality.md", help="Markdown report, rewritten with every shop")
    evaluate.add_argument("--results", default="docs/quality.json", help="raw figures behind the report, per shop")
    evaluate.add_argument("--no-mlflow", action="store_true", help="do not log the report to MLflow")
    evaluate.add_argument("--verbose", action="store_true", help="print Airflow's own output instead of one line per DAG")
    evaluate.set_defaults(func=_evaluate)
    bench = commands.add_parser("bench", help="measure every stage (time, CPU, memory) against what users would otherwise do")
    bench.add_argument("--customers", type=int, nargs="+", default=[10_000],
                       help="shop sizes, e.g. --customers 10000 100000 (about 58 order lines per customer)")
    bench.add_argument("--seed", type=int, default=7)
    bench.add_argument("--out", default="docs/benchmarks.md", help="Markdown file whose results block is replaced")
    bench.add_argument("--to-sql-max-rows", dest="to_sql_max_rows", type=int, default=100_000,
                       help="most rows pandas.to_sql writes into PostgreSQL; rows/s are compared")
    bench.add_argument("--duckdb-to-sql-max-rows", dest="duckdb_to_sql_max_rows", type=int, default=2_000,
                       help="most rows pandas.to_sql writes into DuckDB (about 100 rows/s there)")
    bench.add_argument("--results", default="docs/benchmarks.json", help="raw figures (JSON) behind the Markdown")
    bench.add_argument("--merge", action="store_true",
                       help="keep the sizes of an earlier --results file that this run does not measure again")
    bench.add_argument("--memory-limit-gib", dest="memory_limit_gib", type=float, default=16.0,
                       help="kill a stage whose processes hold more than this (the run goes on without it)")
    bench.add_argument("--stage-timeout-s", dest="stage_timeout_s", type=float, default=None,
                       help="kill a stage that runs longer than this")
    bench.add_argument("--budget-min", dest="budget_min", type=float, default=None,
                       help="stop after this many minutes: the running stage is killed, the rest skipped and reported")
    bench.add_argument("--no-dag-run", action="store_true", help="leave out the whole pipeline under Airflow")
    bench.add_argument("--stages", nargs="+", default=None, metavar="STAGE",
                       help="only these data-path stages (ingest validate publish features_sql features_pandas) "
                            "and those before them, or dag_run (the whole pipeline under Airflow on its own), or "
                            "clv_fits (BG/NBD and Gamma-Gamma fits against lifetimes'); "
                            "with --merge they replace an earlier run's figures")
    bench.add_argument("--families", nargs="+", default=None, metavar="FAMILY",
                       help="only these model families (features, train, promote, score) after the data path "
                            "up to features_sql; with --merge they replace an earlier run's figures")
    bench.add_argument("--no-mlflow", action="store_true", help="do not log the results to MLflow")
    bench.add_argument("--keep", action="store_true", help="keep each size's workspace under var/bench/")
    bench.set_defaults(func=_bench)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
