"""Command line: `python -m ml <command>`. Run `python -m ml --help` for the list."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _generate(args) -> int:
    from ml.generate import ShopSpec, write_shop

    counts = write_shop(ShopSpec(customers=args.customers, seed=args.seed, weeks=args.weeks), Path(args.out))
    print(f"wrote a shop of {args.customers} customers to {args.out}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    return 0


def _run(args) -> int:
    from ml import pipeline, report

    status = pipeline.run_pipeline(args.source, args.as_of)
    if status != 0:
        print(f"\nThe pipeline stopped (exit {status}); see the task log above. "
              "Previous tables and champions are unchanged.", file=sys.stderr)
        return status
    print(report.summary())
    return 0


def _demo(args) -> int:
    from ml import pipeline, report, settings
    from ml.generate import ShopSpec, write_shop

    shop = settings.state_dir() / "data" / "demo_shop"
    if not (shop / "order_lines.csv").exists():
        write_shop(ShopSpec(customers=args.customers, seed=args.seed), shop)
        print(f"generated a demo shop of {args.customers} customers in {shop}")
    status = pipeline.run_pipeline(str(shop), args.as_of)
    if status != 0:
        return status
    print(report.summary())
    return 0


def _rollback(args) -> int:
    from ml import promotion
    from ml.warehouse import connect

    with connect() as wh:
        target = promotion.rollback_champion(wh, args.model, args.version, args.reason)
    print(f"{args.model}@champion now points at version {target.version} (run {target.run_id}); recorded in ops.model_promotions")
    return 0


def _status(args) -> int:
    from ml import report

    print(report.summary())
    return 0


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
    run.set_defaults(func=_run)
    demo = commands.add_parser("demo", help="generate a shop and run the whole pipeline on it")
    demo.add_argument("--customers", type=int, default=2000)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--as-of", dest="as_of", default=None)
    demo.set_defaults(func=_demo)
    rollback = commands.add_parser("rollback", help="point a model's champion alias back at an earlier version")
    rollback.add_argument("--model", required=True)
    rollback.add_argument("--version", required=True)
    rollback.add_argument("--reason", default="manual rollback")
    rollback.set_defaults(func=_rollback)
    status = commands.add_parser("status", help="print where everything is, marts and champions")
    status.set_defaults(func=_status)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
