"""Keyed pseudonyms: stable under one key, different under another, found back by index, and a key
made once per workspace that only its owner can read."""
from __future__ import annotations

import stat

import numpy as np
import pytest

from ml import pseudonyms


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("VALUEFLOW_HOME", str(tmp_path))
    monkeypatch.delenv(pseudonyms.KEY_ENV, raising=False)
    return tmp_path


def test_the_workspace_key_is_made_once_and_private(home):
    first = pseudonyms.key()
    assert pseudonyms.key() == first and len(first) == 32
    path = pseudonyms.key_path()
    assert path.is_relative_to(home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert not [p for p in path.parent.iterdir() if p != path], "no temporary file left behind"


def test_pseudonyms_depend_on_the_key_and_hide_the_id(home, monkeypatch):
    ids = ["12146", "12147", "12146"]
    under_workspace = pseudonyms.pseudonymise(ids)
    assert under_workspace[0] == under_workspace[2] != under_workspace[1]
    assert "12146" not in under_workspace[0] and len(under_workspace[0]) == 2 * pseudonyms.DIGEST_BYTES
    monkeypatch.setenv(pseudonyms.KEY_ENV, "the deployment's secret")
    under_environment = pseudonyms.pseudonymise(ids)
    assert under_environment[0] != under_workspace[0]
    assert list(pseudonyms.pseudonymise([12146])) == [under_environment[0]], "ids compare as strings"


def test_the_index_finds_rows_and_refuses_another_key(home, monkeypatch):
    users = np.asarray(["u3", "u1", "u2"], dtype=object)
    index = pseudonyms.PseudonymIndex.build(users)
    assert "u1" not in repr(index)
    assert index.rows_of(["u2", "nobody", None, "u3", "u1"]).tolist() == [2, -1, -1, 0, 1]
    assert index.rows_of([]).tolist() == []
    monkeypatch.setenv(pseudonyms.KEY_ENV, "another key")
    with pytest.raises(pseudonyms.PseudonymKeyMismatch, match=pseudonyms.KEY_ENV):
        index.rows_of(["u1"])
