"""Benchmarks (`make bench`): figures for the README, not pass/fail tests."""
import os
import platform

from ryu_app.model.quotas import DEFAULT_LIMITS

# The benchmarks' workloads are larger than Neutron's default quotas (500 ports a
# project): their controllers run without any.
NO_QUOTAS = {"quotas": {f"quota_{kind}": "-1" for kind in DEFAULT_LIMITS}}


def machine() -> str:
    """Where the figures come from, for the README."""
    return (f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}")
