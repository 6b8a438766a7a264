"""Benchmarks (`make bench`): figures for the README, not pass/fail tests."""
import os
import platform


def machine() -> str:
    """Where the figures come from, for the README."""
    return (f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}")
