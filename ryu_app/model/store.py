"""Durable state in embedded SQLite: one transaction per API write.

The store keeps every resource as a JSON document keyed by (kind, id) and
remembers insertion order, so listings come back in creation order after a
restart.  WAL mode with ``synchronous=NORMAL`` (the default here) makes a
committed write survive the controller being killed (the data is in the
operating system's page cache before the API answers); ``FULL`` adds an fsync
per write for power-loss durability at a throughput cost.
"""
from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from typing import Iterable

SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
"""

class StoreLocked(Exception):
    """Another controller holds the database."""


Put = tuple[str, str, dict]      # (kind, id, document)
Delete = tuple[str, str]         # (kind, id)


class Store:
    def __init__(self, path: str, synchronous: str = "NORMAL"):
        if synchronous.upper() not in SYNCHRONOUS_MODES:
            raise ValueError(f"db_synchronous must be one of {SYNCHRONOUS_MODES}")
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        self._lock = _lock(path + ".lock")
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one per write.
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self._conn.executescript(_SCHEMA)
        row = self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM resources").fetchone()
        self._seq = row[0]

    def close(self) -> None:
        """Let go of the database (and its lock)."""
        self._conn.close()
        os.close(self._lock)

    def load(self, kinds: Iterable[str]) -> dict[str, dict[str, dict]]:
        """The stored documents of these kinds, grouped by kind, in creation order."""
        loaded: dict[str, dict[str, dict]] = {kind: {} for kind in kinds}
        marks = ",".join("?" * len(loaded))
        rows = self._conn.execute(
            f"SELECT kind, id, body FROM resources WHERE kind IN ({marks}) ORDER BY seq",
            list(loaded))
        for kind, resource_id, body in rows:
            loaded[kind][resource_id] = json.loads(body)
        return loaded

    def commit(self, puts: Iterable[Put] = (), deletes: Iterable[Delete] = ()) -> None:
        """Write all puts and deletes atomically; raise and change nothing on failure."""
        rows = []
        for kind, resource_id, document in puts:
            self._seq += 1
            rows.append((kind, resource_id, self._seq, json.dumps(document)))
        conn = self._conn
        conn.execute("BEGIN")
        try:
            conn.executemany(
                "INSERT INTO resources (kind, id, seq, body) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body", rows)
            conn.executemany("DELETE FROM resources WHERE kind = ? AND id = ?", list(deletes))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def _lock(path: str) -> int:
    """Hold an exclusive lock on ``path`` for the life of the process (the kernel drops it
    when the process ends, however it ends): two controllers on one database would
    allocate the same segments and addresses twice."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise StoreLocked(f"{path[:-5]} is in use by another controller (pid {holder}); "
                          "one database serves one controller.") from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd
