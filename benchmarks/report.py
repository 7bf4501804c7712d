"""Render benchmark results as Markdown (docs/benchmarks.md) and log them to MLflow.

The generated part of docs/benchmarks.md sits between two markers, so the prose around it (how to
read the figures, what was found) is kept when the benchmark is run again.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import re
from pathlib import Path

START_MARKER = "<!-- bench:results:start -->"
END_MARKER = "<!-- bench:results:end -->"
EXPERIMENT = "benchmarks"  # with the prefix: valueflow-benchmarks


def describe_machine(pg_admin_url: str | None = None) -> dict[str, str]:
    import duckdb
    import pandas as pd

    cpu = "unknown"
    if Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    if Path("/proc/meminfo").exists():
        total_kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{total_kib / 1024 ** 2:.1f} GiB"
    machine = {
        "cpu": f"{os.cpu_count()} × {cpu}",
        "cpus available": str(len(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else "?",
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "pandas": pd.__version__,
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    if pg_admin_url:
        try:
            import psycopg

            with psycopg.connect(pg_admin_url, connect_timeout=5) as con:
                machine["postgresql"] = con.execute("SHOW server_version").fetchone()[0] + " on 127.0.0.1 (same machine)"
        except Exception as error:
            machine["postgresql"] = f"unreachable ({type(error).__name__})"
    return machine


# -- tables ---------------------------------------------------------------------------------------
def _stages(size: dict) -> dict[str, dict]:
    return {s["stage"]: s for s in size["stages"]}


def _num(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _ratio(a, b) -> str:
    if not a or not b:
        return "–"
    return f"{a / b:.1f}×"


def _note(stage: dict) -> str:
    if not stage["ok"]:  # a stage stopped by the harness (budget, limit) did not fail: say what happened
        error = str(stage["error"])
        return error if error.startswith(("killed", "skipped")) else f"FAILED: {error}"
    info = stage.get("info") or {}
    if isinstance(info, dict) and "rows" in info and "rows_per_s" in info:
        return f"{info['rows']:,} rows, {info['rows_per_s']:,.0f} rows/s"
    if "read_wall_s" in info:
        return f"read {info['read_wall_s']:.2f} s + compute {info['compute_wall_s']:.2f} s, {info['rows']:,} rows"
    if "rows" in info:
        return f"{info['rows']:,} rows" + (f" ({info['alias']})" if "alias" in info else "")
    if "tasks" in info:
        return f"{len(info['tasks'])} tasks in {', '.join(info['dags'])}"
    if "nnz" in info:
        return f"{info['users']:,} users × {info['items']:,} items, {info['nnz']:,} non-zeros"
    if isinstance(info, dict) and info and all(isinstance(v, int) and not isinstance(v, bool) for v in info.values()):
        return ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in info.items())
    text = json.dumps(info, default=str)
    return text if len(text) < 90 else text[:87] + "..."


def stage_table(size: dict) -> list[str]:
    lines = ["| stage | wall s | CPU s | peak RSS MiB | process wall s | notes |", "|---|---:|---:|---:|---:|---|"]
    for s in size["stages"]:
        lines.append(f"| {s['stage']} | {_num(s['wall_s'])} | {_num(s['cpu_s'])} | {_num(s['peak_rss_mib'], 0)} | "
                     f"{_num(s['process_wall_s'])} | {_note(s).replace('|', '/')} |")
    return lines


def writes_table(results: dict) -> list[str]:
    lines = ["| customers | warehouse | this project (rows/s) | pandas.to_sql (rows/s) | to_sql rows | project ÷ to_sql |",
             "|---:|---|---:|---:|---:|---:|"]
    for size in results["sizes"]:
        stages = _stages(size)
        for dialect, words in (("duckdb", "DuckDB (Arrow)"), ("postgres", "PostgreSQL (COPY)")):
            project, to_sql = stages.get(f"write:{dialect}:project"), stages.get(f"write:{dialect}:to_sql")
            if not project:
                continue
            p = project["info"].get("rows_per_s") if project["ok"] else None
            t = to_sql["info"].get("rows_per_s") if to_sql and to_sql["ok"] else None
            rows = to_sql["info"].get("rows") if to_sql and to_sql["ok"] else None
            lines.append(f"| {size['customers']:,} | {words} | {_num(p)} | {_num(t)} | {_num(rows)} | {_ratio(p, t)} |")
    return lines


def features_table(results: dict) -> list[str]:
    lines = ["| customers | SQL in DuckDB s | pandas s (read + groupby) | pandas groupby only s | pandas ÷ SQL | "
             "peak MiB SQL / pandas |", "|---:|---:|---:|---:|---:|---:|"]
    for size in results["sizes"]:
        stages = _stages(size)
        sql, pandas = stages.get("features_sql"), stages.get("features_pandas")
        if not sql or not pandas or not sql["ok"] or not pandas["ok"]:
            continue
        lines.append(f"| {size['customers']:,} | {_num(sql['wall_s'])} | {_num(pandas['wall_s'])} | "
                     f"{_num(pandas['info'].get('compute_wall_s'))} | {_ratio(pandas['wall_s'], sql['wall_s'])} | "
                     f"{_num(sql['peak_rss_mib'], 0)} / {_num(pandas['peak_rss_mib'], 0)} |")
    return lines


def recommender_table(results: dict) -> list[str]:
    if not results["recommender"].startswith("available"):
        return [f"Recommender comparison: {results['recommender']}."]
    als = results["als"]
    lines = [f"Same user × item matrix, {als['factors']} factors, {als['iterations']} iterations for both ALS runs.",
             "", "| customers | matrix | this project's ALS s | implicit reference ALS s | item-item cosine s | "
             "reference ÷ project |", "|---:|---|---:|---:|---:|---:|"]
    for size in results["sizes"]:
        stages = _stages(size)
        matrix = stages.get("recommender_matrix")
        fits = {k: stages.get(f"recommender:{k}") for k in ("als", "implicit_reference", "item_cosine")}
        wall = {k: (v["wall_s"] if v and v["ok"] else None) for k, v in fits.items()}
        lines.append(f"| {size['customers']:,} | {_note(matrix) if matrix else '–'} | {_num(wall['als'])} | "
                     f"{_num(wall['implicit_reference'])} | {_num(wall['item_cosine'])} | "
                     f"{_ratio(wall['implicit_reference'], wall['als'])} |")
    return lines


def clv_fits_table(results: dict) -> list[str]:
    """This project's BG/NBD and Gamma-Gamma fits against lifetimes' on the same summaries."""
    rows, cdnow_shown = [], False
    for size in results["sizes"]:
        for dataset in ("cdnow", "shop"):
            measured = _stages(size).get(f"clv_fits:{dataset}")
            if not measured or not measured["ok"] or (dataset == "cdnow" and cdnow_shown):
                continue  # CDNOW is the same at every size: shown once
            cdnow_shown = cdnow_shown or dataset == "cdnow"
            info = measured["info"]
            where = "CDNOW sample (weeks)" if dataset == "cdnow" else f"shop of {size['customers']:,} (days)"
            for model, label in (("bgnbd", "BG/NBD"), ("gamma_gamma", "Gamma-Gamma")):
                fit = info[model]
                rows.append(f"| {where} | {label} | {info['customers' if model == 'bgnbd' else 'repeat_buyers']:,} | "
                            f"{_num(fit['project_s'], 4)} | {_num(fit['lifetimes_s'], 4)} | "
                            f"{fit['project_s'] / fit['lifetimes_s']:.2f}× | {fit['max_relative_difference']:.1e} |")
    if not rows:
        return ["(not measured: `--stages clv_fits`, or a full run)"]
    return ["Fastest of 5 fits in one process, both libraries imported first; unpenalised maximum likelihood. "
            "Parameters: the largest relative difference between the two fits' parameters.", "",
            "| summaries | model | customers fitted | this project s | lifetimes s | project ÷ lifetimes | parameters differ by |",
            "|---|---|---:|---:|---:|---:|---:|", *rows]


def growth_exponent(n1: float, v1, n2: float, v2) -> float | None:
    """b in value ∝ customers^b between two sizes (1 = linear)."""
    if not v1 or not v2 or n1 == n2:
        return None
    return math.log(v2 / v1) / math.log(n2 / n1)


def scaling_table(results: dict) -> list[str]:
    sizes = [s for s in results["sizes"] if s["stages"]]
    if len(sizes) < 2:
        return ["(one size only: run with several `--customers` values to see how time and memory grow)"]
    head = " / ".join(f"{s['customers']:,}" for s in sizes)
    lines = ["Wall s, CPU s and peak MiB at each size (– where a size did not run the stage); growth exponent b "
             "of value ∝ customers^b between the smallest and the largest size that ran it (1.0 = linear).", "",
             f"| stage | wall s at {head} | CPU s at {head} | peak MiB at {head} | b (wall) | b (CPU) | b (memory) | b over |",
             "|---|---|---|---|---:|---:|---:|---|"]
    names = list(dict.fromkeys(s["stage"] for size in sizes for s in size["stages"]))
    for name in names:
        per = [_stages(s).get(name) for s in sizes]
        per = [p if p and p["ok"] else None for p in per]
        measured = [(s["customers"], p) for s, p in zip(sizes, per) if p]
        if len(measured) < 2:
            continue
        (n1, a), (n2, b) = measured[0], measured[-1]
        cells = [" / ".join(_num(p[key], digits) if p else "–" for p in per)
                 for key, digits in (("wall_s", 2), ("cpu_s", 2), ("peak_rss_mib", 0))]
        exponents = [_num(growth_exponent(n1, a[key], n2, b[key])) for key in ("wall_s", "cpu_s", "peak_rss_mib")]
        lines.append(f"| {name} | {' | '.join(cells)} | {' | '.join(exponents)} | {n1:,}→{n2:,} |")
    return lines


def dag_tasks_table(results: dict) -> list[str]:
    sizes = [s for s in results["sizes"] if _stages(s).get("dag_run", {}).get("ok")]
    if not sizes:
        return ["(no successful DAG run)"]
    tasks = {s["customers"]: _stages(s)["dag_run"]["info"].get("tasks", {}) for s in sizes}
    names = list(dict.fromkeys(name for per in tasks.values() for name in per))
    head = " / ".join(f"{s['customers']:,}" for s in sizes)
    lines = [f"| DAG.task | seconds at {head} |", "|---|---|"]  # one column, like the growth table's cells
    for name in names:
        lines.append(f"| {name} | " + " / ".join(_num(tasks[s["customers"]].get(name)) for s in sizes) + " |")
    total = " / ".join(_num(_stages(s)["dag_run"]["wall_s"]) for s in sizes)
    lines.append(f"| whole run (Airflow start-up and metadata migration included) | {total} |")
    return lines


def render(results: dict) -> str:
    # Every command behind the figures, stages measured again included, in the order they ran.
    again = sorted((a for s in results["sizes"] for a in s.get("remeasured", [])), key=lambda a: a.get("finished_at", ""))
    commands = list(dict.fromkeys([*(s.get("command", results.get("command", "")) for s in results["sizes"]),
                                   *(a["command"] for a in again if a.get("command"))]))
    commands = commands or [results.get("command", "")]
    out = [f"Last run {results.get('finished_at', '')}; produced by " + " then ".join(f"`{c}`" for c in commands)
           + " (each size records its own command below).", ""]
    cpus = list(dict.fromkeys(filter(None, [s.get("cpu") for s in results["sizes"]]
                                        + [again.get("cpu") for s in results["sizes"] for again in s.get("remeasured", [])])))
    if len(cpus) > 1:
        out += [f"**The sizes were measured on different machines** ({'; '.join(cpus)}): each size, and each stage "
                "measured again, names its own below. Compare times within one run only; memory is comparable.", ""]
    out += ["| machine (of the latest run) | |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in results.get("machine", {}).items()]
    out += ["", f"Model families measured (from `FAMILY_NAMES`): {', '.join(results['families'])}. "
            f"PostgreSQL: {results.get('postgres', '–')}. Recommender: {results['recommender']}.", ""]
    out += ["### Mart writes: this project vs pandas.to_sql", ""] + writes_table(results) + [""]
    out += ["### Features: warehouse SQL vs pandas groupby", ""] + features_table(results) + [""]
    out += ["### Recommender training", ""] + recommender_table(results) + [""]
    out += ["### BG/NBD and Gamma-Gamma fits: this project vs lifetimes", ""] + clv_fits_table(results) + [""]
    out += ["### Growth with shop size", ""] + scaling_table(results) + [""]
    out += ["### Inside the whole DAG run (task durations from Airflow's metadata)", ""] + dag_tasks_table(results) + [""]
    for size in results["sizes"]:
        shop = size.get("shop") or {}
        counts = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in shop.items() if k != "customers_truth")
        out += [f"### Every stage at {size['customers']:,} customers ({counts}; as of {size.get('as_of', '–')})", "",
                f"`{size.get('command', results.get('command', ''))}`, finished {size.get('finished_at', '–')}, "
                f"load average at its start {size.get('load_average_at_start', '–')} (2 cores{_on(size)}).", ""]
        for again in size.get("remeasured", []):
            out += [f"Measured again by `{again['command']}` (finished {again['finished_at']}{_on(again)}): "
                    f"{', '.join(again['stages'])}.", ""]
        if size.get("families_only"):
            out += [f"Only the data-path stages and the families {', '.join(size['families_only'])} were run at "
                    "this size (no mart writes, other families or DAG run).", ""]
        elif size.get("stages_only") == ["clv_fits"]:
            out += ["Only the shop generation and the BG/NBD and Gamma-Gamma fits were run at this size.", ""]
        elif size.get("stages_only") == ["dag_run"]:
            out += ["Only the shop generation and the whole DAG run were run at this size.", ""]
        elif "dag_run" in size.get("stages_only", []):
            out += ["Only the data-path stages and the whole DAG run were run at this size (no mart writes or "
                    "per-family stages).", ""]
        elif size.get("stages_only"):
            out += ["Only the data-path stages were run at this size (no mart writes, training or DAG run).", ""]
        out += stage_table(size) + [""]
    return "\n".join(out)


def write_markdown(results: dict, path: Path) -> Path:
    """Replace the generated block of `path` (create the file with a title if it does not exist)."""
    block = f"{START_MARKER}\n{render(results)}\n{END_MARKER}"
    path = Path(path)
    text = path.read_text() if path.exists() else "# Benchmarks\n\n" + START_MARKER + "\n" + END_MARKER + "\n"
    if START_MARKER in text and END_MARKER in text:
        before, rest = text.split(START_MARKER, 1)
        after = rest.split(END_MARKER, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _metric_key(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_./ -]", "_", ".".join(parts))


def log_to_mlflow(results: dict, markdown: Path) -> str:
    """One run in the valueflow-benchmarks experiment: params, a metric per stage and size, the files."""
    import tempfile

    import mlflow

    from ml import registry, tracking

    tracking.configure()
    experiment_id = tracking.ensure_experiment(EXPERIMENT)
    sizes = [s["customers"] for s in results["sizes"]]
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"bench-{'-'.join(map(str, sizes))}") as run:
        mlflow.set_tags({registry.KIND_TAG: "benchmark", "command": results.get("command", "")})
        mlflow.log_params({"customers": ",".join(map(str, sizes)), "families": ",".join(results["families"]),
                           "recommender": results["recommender"][:250], "postgres": str(results.get("postgres"))[:250],
                           "to_sql_max_rows": results["to_sql_max_rows"], "seed": results["seed"],
                           **{f"machine.{k}": str(v)[:250] for k, v in results.get("machine", {}).items()}})
        metrics = {}
        for size in results["sizes"]:
            for s in size["stages"]:
                if not s["ok"]:
                    continue
                for key in ("wall_s", "cpu_s", "peak_rss_mib"):
                    metrics[_metric_key(s["stage"], f"n{size['customers']}", key)] = float(s[key])
                if "rows_per_s" in (s.get("info") or {}):
                    metrics[_metric_key(s["stage"], f"n{size['customers']}", "rows_per_s")] = float(s["info"]["rows_per_s"])
        mlflow.log_metrics(metrics)
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "results.json").write_text(json.dumps(results, indent=2, default=str))
            mlflow.log_artifact(str(Path(tmp) / "results.json"))
        if Path(markdown).exists():
            mlflow.log_artifact(str(markdown))
        return run.info.run_id


def _on(run: dict) -> str:
    return f", {run['cpu']}" if run.get("cpu") else ""


def finish(results: dict, command: str, machine: dict) -> dict:
    results["command"] = command
    results["machine"] = machine
    results["finished_at"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    for size in results["sizes"]:
        size.setdefault("command", command)
        size.setdefault("load_average_at_start", machine.get("load average at start", "–"))
        size.setdefault("cpu", machine.get("cpu"))  # sizes merged from other runs keep their own
        size["finished_at"] = results["finished_at"]
    return results


def merge(earlier: dict | None, latest: dict) -> dict:
    """The latest run, plus the sizes of an earlier run it did not measure again (with their own command).

    A size the latest run measured only in part (`--stages`) keeps the earlier run's other stages;
    the stages measured again replace theirs, and the size says which and by what command.
    """
    if not earlier:
        return latest
    earlier_cpu = earlier.get("machine", {}).get("cpu")  # files written before sizes named their machine
    before = {s["customers"]: {"cpu": earlier_cpu, **s} for s in earlier.get("sizes", [])}
    sizes = []
    for size in latest["sizes"]:
        old = before.pop(size["customers"], None)
        sizes.append(_merge_stages(old, size) if old and size.get("stages_only") else size)
    combined = dict(latest)
    combined["sizes"] = sorted(list(before.values()) + sizes, key=lambda s: s["customers"])
    return combined


def _merge_stages(old: dict, partial: dict) -> dict:
    fresh = {s["stage"]: s for s in partial["stages"]}
    size = dict(old)
    size["stages"] = [fresh.pop(s["stage"], s) for s in old["stages"]] + list(fresh.values())
    size["remeasured"] = [*old.get("remeasured", []), {"stages": [s["stage"] for s in partial["stages"]],
                          "command": partial.get("command"), "finished_at": partial.get("finished_at"),
                          "shop": partial.get("shop"), "cpu": partial.get("cpu")}]
    return size


def load_results(path: str | Path) -> dict | None:
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else None


def save_results(results: dict, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return path
