"""The README and docs say what the code does, where that can be checked mechanically."""
from __future__ import annotations

import re

import numpy as np
import pytest

from ml import catalog, settings
from ml.families import FAMILY_MARTS

README = (settings.REPO_ROOT / "README.md").read_text()


def _mart_rows() -> dict[str, list[str]]:
    """mart -> the cells of its row in the README's mart table."""
    table = README[README.index("| mart | grain | columns (besides lineage) | meaning |"):]
    rows = {}
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = cells
    return rows


def test_the_mart_table_lists_every_mart_with_the_columns_it_has():
    rows = _mart_rows()
    assert set(rows) == set(catalog.MART_COLUMNS)
    for mart, cells in rows.items():
        documented = tuple(re.findall(r"`([a-z_0-9]+)`", cells[2]))
        assert documented == catalog.MART_COLUMNS[mart], mart


def test_every_family_scores_into_a_documented_mart():
    assert {mart for _, mart in FAMILY_MARTS} <= set(catalog.MART_COLUMNS)


def test_the_documented_decile_direction_is_the_code_s():
    from ml.families.propensity.metrics import assign_deciles

    meaning = _mart_rows()[catalog.USER_PROPENSITY][3]
    likeliest = int(re.search(r"`propensity_decile`: (\d+) = the 10% most likely to buy", meaning).group(1))
    p = np.linspace(0.01, 0.99, 50)
    deciles = assign_deciles(p)
    assert deciles[np.argmax(p)] == likeliest and deciles[np.argmin(p)] == 11 - likeliest


@pytest.mark.parametrize("path", ["README.md", *sorted(f"docs/{p.name}" for p in (settings.REPO_ROOT / "docs").glob("*.md"))])
def test_every_module_path_the_docs_name_exists(path):
    text = (settings.REPO_ROOT / path).read_text()
    named = set(re.findall(r"`((?:ml|dags|plugins|benchmarks|tests|config|expectations|tools)/[A-Za-z0-9_/.<>-]+)", text))
    missing = sorted(p for p in named if "<" not in p and not (settings.REPO_ROOT / p.split(":")[0]).exists())
    assert not missing, f"{path} names paths that do not exist: {missing}"


def test_every_family_has_every_standard_module_the_architecture_page_lists():
    text = (settings.REPO_ROOT / "docs" / "architecture.md").read_text()
    assert "```mermaid" in text
    table = text[text.index("| module | job |"):].split("\n\n")[0]
    standard = re.findall(r"^\| `([a-z_]+\.py)` \|", table, re.M)
    assert {"__init__.py", "config.py", "features.py", "train.py", "evaluate.py", "score.py", "pyfunc.py"} <= set(standard)
    # model.py only where a family has a fitted object, outcomes.py where there is an outcome to check
    required = [m for m in standard if m not in ("model.py", "outcomes.py")]
    missing = [f"{name}/{module}" for name, _ in FAMILY_MARTS for module in required
               if not (settings.REPO_ROOT / "ml" / "families" / name / module).exists()]
    assert not missing, f"families without a standard module: {missing}"
