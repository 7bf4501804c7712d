"""docs/quality.md from the quality results (docs/quality.json), and the MLflow run of one shop's report."""
from __future__ import annotations

import math
from pathlib import Path

INTRO = """# Quality on real shops

`python -m ml evaluate --source FILE --as-of D` runs every DAG under Airflow on the shop's history
before D, in a throw-away workspace, then scores every mart for D on what the customers and products
really did after D, beside the simple baselines an analyst computes in SQL, each fitted on the same
history and scored on the same customers or products. This page is rewritten from `docs/quality.json`
by every run; each shop's section names the command that produced it.

**ratio** = champion / best baseline. For AUC, lift, NDCG, recall, Spearman and coverage higher is
better (≥ 1.00 means the champion is at least as good as the best baseline); for RMSE, MAE and WAPE
lower is better (≤ 1.00). A family without a mart for D says why (the promotion policy kept every
challenger out, or its DAG failed); a window the export does not cover is not measured.
"""


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _number(value) -> str:
    if _missing(value):
        return "–"
    return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"


def _verdict(outcome: dict) -> str:
    model, best = outcome["model"], outcome["best_baseline_value"]
    if _missing(model) or _missing(best):
        return "not measured"
    beats = model >= best if outcome["higher_is_better"] else model <= best
    return "beats" if beats else "**below**"


def summary_rows(shops: dict) -> list[str]:
    rows = ["| shop | family | metric | champion | best baseline | baseline | ratio | verdict | n |",
            "|---|---|---|---|---|---|---|---|---|"]
    for shop, report in sorted(shops.items()):
        for family in report["families"]:
            if not family["outcomes"]:
                state = "no mart" if not family["mart_rows"] else "mart filled, nothing to measure"
                rows.append(f"| {shop} | {family['family']} | – | – | – | – | – | {state} | – |")
            for o in family["outcomes"]:
                rows.append(f"| {shop} | {family['family']} | {o['metric']} | {_number(o['model'])} | "
                            f"{o['best_baseline'] or '–'} | {_number(o['best_baseline_value'])} | "
                            f"{_number(o['ratio'])} | {_verdict(o)} | {o['n']:,} |")
    return rows


def shop_section(shop: str, report: dict) -> list[str]:
    out = [f"### {shop}", "",
           f"`{report['command'] or 'python -m ml evaluate'}` — as of {report['as_of']}: history "
           f"{report['history_lines']:,} order lines up to {report['history_end']}, export up to "
           f"{report['data_end']} (exclusive); pipeline exit status {report['pipeline_exit']}.", ""]
    for family in report["families"]:
        out.append(f"- **{family['family']}** (`{family['mart']}`, {family['mart_rows']:,} rows for D)"
                   + (f": {family['note']}" if family["note"] else ""))
        for o in family["outcomes"]:
            baselines = ", ".join(f"{name} {_number(value)}" for name, value in sorted(o["baselines"].items()))
            note = f" — {o['note']}" if o.get("note") else ""
            out.append(f"  - {o['metric']}: champion {_number(o['model'])}; baselines: {baselines or 'none'}{note}")
    return [*out, ""]


def render(results: dict) -> str:
    shops = results.get("shops", {})
    lines = [INTRO, "## Champion vs best baseline", "", *summary_rows(shops), "", "## Per shop", ""]
    for shop, report in sorted(shops.items()):
        lines += shop_section(shop, report)
    return "\n".join(lines).rstrip() + "\n"


def write_markdown(results: dict, path: Path) -> None:
    path.write_text(render(results))


def log_to_mlflow(report: dict, markdown: Path) -> str:
    """One run per shop and as-of date in the experiment `valueflow-quality`; returns its run id."""
    import datetime as dt

    import mlflow

    from ml import tracking

    with tracking.start_run("quality", dt.date.fromisoformat(report["as_of"]),
                            run_name=f"{report['shop']}-{report['as_of']}") as run:
        mlflow.log_params({"shop": report["shop"], "source": report["source"], "as_of": report["as_of"],
                           "history_lines": report["history_lines"], "pipeline_exit": report["pipeline_exit"]})
        for family in report["families"]:
            mlflow.log_metric(f"{family['family']}.mart_rows", family["mart_rows"])
            for o in family["outcomes"]:
                prefix = f"{family['family']}.{o['metric']}"
                for key, value in (("model", o["model"]), ("best_baseline", o["best_baseline_value"]),
                                   ("ratio", o["ratio"]), *((f"baseline_{k}", v) for k, v in o["baselines"].items())):
                    if not _missing(value):
                        mlflow.log_metric(f"{prefix}.{key}", float(value))
        mlflow.log_artifact(str(markdown))
        return run.info.run_id
