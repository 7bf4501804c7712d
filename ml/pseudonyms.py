"""Keyed pseudonyms for customer ids, so that a model artifact can find a customer's row without
holding the customer's id.

A pseudonym is a keyed BLAKE2b MAC of the id (RFC 7693's keyed mode, a MAC in its own right): without
the key, a list of candidate ids (shop ids are often small sequential numbers) cannot be hashed and
matched. The key is `VALUEFLOW_ID_KEY` where the deployment sets it (every worker must share it), else
a random one created once in the workspace (`<VALUEFLOW_HOME>/secrets/id_key`, readable by its owner
only). An artifact records the key's check value, so loading it under another key fails loudly instead
of treating every customer as a stranger.
"""
from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ml import settings

KEY_ENV = "VALUEFLOW_ID_KEY"
DIGEST_BYTES = 16  # 128 bits: no collision among any realistic number of customers


class PseudonymKeyMismatch(RuntimeError):
    """An artifact's pseudonyms were made with another key than this workspace's."""


def key_path() -> Path:
    return settings.state_dir() / "secrets" / "id_key"


def key() -> bytes:
    """The pseudonym key: the environment's, else the workspace's, created on first use."""
    configured = os.environ.get(KEY_ENV)
    if configured:
        return hashlib.blake2b(configured.encode(), digest_size=32).digest()  # any length -> 32 bytes
    path = key_path()
    if not path.exists():
        _create_key(path)
    return bytes.fromhex(path.read_text().strip())


def _create_key(path: Path) -> None:
    # Written whole under a temporary name and linked into place: two processes starting at once
    # both end up reading the one key that won, never a half-written file.
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_hex(32))
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()


def key_check(secret: bytes) -> str:
    """A value that identifies the key without revealing it."""
    return hashlib.blake2b(b"valueflow pseudonym key check", key=secret, digest_size=8).hexdigest()


def pseudonymise(customer_ids, secret: bytes | None = None) -> np.ndarray:
    """The pseudonym (hex) of each id, compared as strings as everywhere else."""
    secret = key() if secret is None else secret
    return np.asarray([hashlib.blake2b(str(c).encode(), key=secret, digest_size=DIGEST_BYTES).hexdigest()
                       for c in customer_ids], dtype=object)


@dataclass(frozen=True)
class PseudonymIndex:
    """Row of each customer of a matrix, found by pseudonym: what an artifact stores instead of ids."""

    keys: np.ndarray  # sorted pseudonyms
    rows: np.ndarray  # the matrix row of each of `keys`
    check: str  # key_check of the key that made them

    @classmethod
    def build(cls, customer_ids) -> PseudonymIndex:
        secret = key()
        keys = pseudonymise(customer_ids, secret)
        order = np.argsort(keys, kind="stable")
        return cls(keys[order], order.astype(np.int64), key_check(secret))

    def rows_of(self, customer_ids) -> np.ndarray:
        """Row of each customer, -1 for customers the matrix has never seen."""
        secret = key()
        if key_check(secret) != self.check:
            raise PseudonymKeyMismatch(
                f"this model's customer pseudonyms were made with another key than this workspace's "
                f"({KEY_ENV} or {key_path()}): set {KEY_ENV} to the key it was trained with, or retrain")
        wanted = pd.Series(customer_ids, dtype=object)
        result = np.full(len(wanted), -1, dtype=np.int64)
        present = wanted.notna().to_numpy()
        if not len(self.keys) or not present.any():
            return result
        keys = pseudonymise(wanted[present], secret)
        pos = np.clip(np.searchsorted(self.keys, keys), 0, len(self.keys) - 1)
        result[present] = np.where(self.keys[pos] == keys, self.rows[pos], -1)
        return result
