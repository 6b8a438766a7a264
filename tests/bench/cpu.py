"""CPU time of the processes a benchmark involves, read from /proc by pid (never by name:
a kworker's name changes with the work it does, so names over-count)."""
from __future__ import annotations

import os

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process (all its threads) so far; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


class CpuSplit:
    """CPU seconds spent since it was made, per role (a role: the pids that play it)."""

    def __init__(self, roles: dict[str, list[int]]):
        self.roles = roles
        self.start = self._read()

    def _read(self) -> dict[str, float]:
        return {role: sum(cpu_seconds(pid) for pid in pids) for role, pids in self.roles.items()}

    def spent(self) -> dict[str, float]:
        now = self._read()
        return {role: now[role] - self.start[role] for role in self.roles}


def ceiling(ms_per_item: float) -> float:
    """Items per second this machine's cores allow at that much CPU per item, all busy."""
    return 1000 * (os.cpu_count() or 1) / ms_per_item
