"""No customer id of the input reaches what a run leaves for others to read: MLflow artifacts (models,
input examples, plots' data, reports), Data Docs, Airflow's task logs and the run journal.

The scan reads every file as bytes, looks inside zip archives (a `.keras` model is one), and matches
each id of the shop as a whole token in UTF-8, and the ids together as UTF-32 (numpy's fixed-width
strings, which a model keeping its customers would hold as one array).
"""
from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ml import pseudonyms
from ml.warehouse import connect

pytestmark = pytest.mark.reliability

# LightGBM's model text lists per-node counts and sums (`internal_count=312 ...`): five-digit numbers
# there are tree statistics that can equal a numeric customer id by chance, not ids.
TREE_STATISTICS = re.compile(rb"^(internal_count|internal_weight|leaf_count|leaf_weight)=[-0-9. e+]*$", re.M)
# int32 index arrays (a CSR matrix's columns) spell short digit runs in UTF-32 by chance: columns 49..53
# read as "12345". A fixed-width array of the customers matches most ids; a few matches are indices.
WIDE_SHARE = 0.25


# Evidently's drift reports embed its UI library, minified JS whose numbers can equal an id by chance;
# the report's own data is its `var metric_<id> = {...}` script, and that is what is scanned.
EVIDENTLY_REPORT = b"window.drawDashboard("
EVIDENTLY_DATA = re.compile(rb"<script>\s*var metric_[0-9a-f]+ = .*?</script>", re.S)


def customer_ids() -> list[str]:
    with connect() as wh:
        frame = wh.query("SELECT DISTINCT customer_id FROM raw.order_lines WHERE customer_id IS NOT NULL")
    return frame["customer_id"].astype(str).tolist()


def readable_files(workspace: Path) -> Iterator[Path]:
    for folder in ("mlartifacts", "data_docs", "runs", "airflow/logs"):
        yield from (p for p in sorted((workspace / folder).rglob("*")) if p.is_file())


def contents(path: Path) -> Iterator[tuple[str, bytes]]:
    data = path.read_bytes()
    yield str(path), data
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                yield f"{path}!{member}", archive.read(member)


def leaks(workspace: Path, ids: list[str]) -> list[str]:
    as_tokens = re.compile(rb"(?<![0-9A-Za-z_.])(" + b"|".join(re.escape(i.encode()) for i in ids)
                           + rb")(?![0-9A-Za-z_.])")
    wide = [i.encode("utf-32-le") for i in ids]
    found = []
    for path in readable_files(workspace):
        for name, data in contents(path):
            text = TREE_STATISTICS.sub(b"", data)
            if EVIDENTLY_REPORT in text:
                text = b"\n".join(EVIDENTLY_DATA.findall(text))
            match = as_tokens.search(text)
            if match:
                line = text[text.rfind(b"\n", 0, match.start()) + 1 : match.end() + 60]
                found.append(f"{name}: {match.group(1).decode()} in {line[:160]!r}")
            wide_hits = [i.decode("utf-32-le") for i in wide if i in data]
            if len(wide_hits) > WIDE_SHARE * len(ids):
                found.append(f"{name}: {len(wide_hits)} ids as UTF-32, e.g. {wide_hits[:3]}")
    return found


def test_no_customer_id_in_artifacts_docs_or_logs(baseline_workspace):
    ids = customer_ids()
    assert len(ids) > 100, "the scan needs the shop's ids"
    assert any((baseline_workspace / "mlartifacts").rglob("recommender.pkl")), "the recommender was logged"
    assert not leaks(baseline_workspace, ids)


def test_the_scan_finds_an_id_where_one_is(baseline_workspace, tmp_path):
    """The scan is only worth its silence if it sees an id written the ways a model would hold one."""
    import pickle

    import numpy as np

    ids = customer_ids()
    planted = baseline_workspace / "mlartifacts" / "planted"
    planted.mkdir()
    (planted / "objects.pkl").write_bytes(pickle.dumps(np.asarray(ids[:3], dtype=object)))
    (planted / "fixed_width.npy").write_bytes(np.asarray(ids).tobytes())  # <U5: UTF-32
    with zipfile.ZipFile(planted / "model.keras", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", f'{{"customer": "{ids[4]}"}}')
    found = leaks(baseline_workspace, ids)
    assert any("objects.pkl" in f for f in found)
    assert any("fixed_width.npy" in f and "UTF-32" in f for f in found)
    assert any("model.keras!config.json" in f for f in found)


def test_a_saved_recommender_still_knows_its_customers(baseline_workspace):
    """What replaced the ids works: the champion, loaded as scoring loads it, finds its customers by
    pseudonym, and refuses a workspace whose key made other pseudonyms."""
    from ml import pyfunc, registry

    champion = registry.get_alias("recommender", registry.CHAMPION)
    recommender = pyfunc.load_predictor(champion.uri)
    assert recommender.pseudonyms is not None and len(recommender.train.users) == 0
    rows = recommender.user_index(customer_ids() + ["a stranger"])
    assert sorted(rows[rows >= 0]) == list(range(recommender.train.shape[0])), "every training row is found"
    assert rows[-1] == -1
    (baseline_workspace / "secrets" / "id_key").write_text("00" * 32)
    with pytest.raises(pseudonyms.PseudonymKeyMismatch, match="another key"):
        recommender.recommend(customer_ids()[:1])
