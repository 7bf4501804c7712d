"""Run one benchmark stage in its own child process and measure it.

Each stage runs as `python -m benchmarks.stages <stage> <args.json> <result.json>`, so its peak memory
is its own: the parent reaps it with `os.wait4`, whose resource usage covers the child and every
process it waited for (the DAG run's Airflow subprocesses included). Inside the child, the stage
times only its operation (not interpreter start-up and imports) and writes that, with whatever it
counted (rows, tables), to the result file.
"""
from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Measurement:
    stage: str
    ok: bool
    wall_s: float | None = None  # the operation, timed inside the child
    cpu_s: float | None = None  # user + system CPU of the operation (threads and waited-for subprocesses included)
    peak_rss_mib: float | None = None  # the child's peak resident memory, descendants included
    process_wall_s: float | None = None  # the whole child, start-up and imports included
    info: dict = field(default_factory=dict)  # what the stage counted: rows, tables, sub-timings
    error: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@contextmanager
def timed(into: dict, key: str = "") -> Iterator[None]:
    """Record wall and CPU seconds of a block into `into` (keys `<key>wall_s`, `<key>cpu_s`)."""
    start_wall, start_cpu = time.perf_counter(), _cpu_seconds()
    try:
        yield
    finally:
        into[f"{key}wall_s"] = round(time.perf_counter() - start_wall, 3)
        into[f"{key}cpu_s"] = round(_cpu_seconds() - start_cpu, 3)


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_stage(stage: str, args: dict, env: dict[str, str], cwd: str | Path | None = None, label: str | None = None,
              timeout_s: float | None = None, memory_limit_mib: float | None = None,
              log: Callable[[str], None] = print, timeout_cause: str = "the stage time limit") -> Measurement:
    """Run `stage` (a name in `benchmarks.stages.STAGES`) in a child process; never raises for stage errors.

    A child past `timeout_s`, or whose process tree holds more than `memory_limit_mib` resident (sampled
    every 0.1 s), is killed with its whole process group, so a runaway size cannot starve the machine.
    A killed stage's error says why (`timeout_cause`, e.g. the run's --budget-min), not the last line
    the child happened to print.
    """
    label = label or stage
    with tempfile.TemporaryDirectory(prefix="valueflow-bench-") as tmp:
        args_path, result_path = Path(tmp) / "args.json", Path(tmp) / "result.json"
        args_path.write_text(json.dumps(args, default=str))
        command = [sys.executable, "-m", "benchmarks.stages", stage, str(args_path), str(result_path)]
        log(f"[bench] {label} ...")
        started = time.perf_counter()
        child = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, start_new_session=True)
        status, usage, output, killed = _reap(child, timeout_s, memory_limit_mib, timeout_cause)
        child.returncode = os.waitstatus_to_exitcode(status)
        process_wall = time.perf_counter() - started
        peak_mib = usage.ru_maxrss / 1024  # kilobytes on Linux
        result = json.loads(result_path.read_text()) if result_path.exists() else {}
    if child.returncode != 0 or not result:
        tail = "\n".join(output.strip().splitlines()[-15:])
        log(f"[bench] {label} FAILED (exit {child.returncode})\n{tail}")
        return Measurement(label, False, peak_rss_mib=round(peak_mib, 1), process_wall_s=round(process_wall, 2),
                           error=killed or (tail.splitlines() or ["no output"])[-1][:300])
    info = result.get("info", {})
    measurement = Measurement(label, True, result["wall_s"], result["cpu_s"], round(peak_mib, 1),
                              round(process_wall, 2), info)
    log(f"[bench] {label}: {measurement.wall_s:.2f} s wall, {measurement.cpu_s:.2f} s CPU, "
        f"{measurement.peak_rss_mib:.0f} MiB peak")
    return measurement


def _reap(child: subprocess.Popen, timeout_s: float | None, memory_limit_mib: float | None,
          timeout_cause: str) -> tuple[int, resource.struct_rusage, str, str | None]:
    """Wait for the child with wait4 (its rusage is what we measure), collecting its output meanwhile.

    Past `timeout_s` or `memory_limit_mib`, the child's whole process group (its own session) is killed,
    and the last element says why (None when it ended by itself).
    """
    lines: list[str] = []
    killed = None

    def read() -> None:
        for line in child.stdout:
            lines.append(line)
            if len(lines) > 400:
                del lines[:200]

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    try:
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            reason = None
            if deadline is not None and time.monotonic() > deadline:
                reason, deadline = f"killed by {timeout_cause} after {timeout_s:.0f} s, still running", None
            elif memory_limit_mib is not None and _tree_rss_mib(child.pid) > memory_limit_mib:
                reason, memory_limit_mib = f"killed: over the memory limit of {memory_limit_mib:.0f} MiB", None
            if reason:
                os.killpg(child.pid, signal.SIGKILL)
                lines.append(reason + "\n")
                killed = reason
            time.sleep(0.1)
    except BaseException:  # interrupted: leave no stage process behind
        os.killpg(child.pid, signal.SIGKILL)
        os.wait4(child.pid, 0)
        raise
    reader.join(timeout=5)
    child.stdout.close()
    return status, usage, "".join(lines), killed


def _tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and all its descendants, now."""
    import psutil

    try:
        parent = psutil.Process(pid)
        processes = [parent, *parent.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            continue
    return total / 2 ** 20
