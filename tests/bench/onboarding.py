"""Benchmark: hypervisor onboarding, from `ovs-vsctl set-manager` to fully programmed.

Builds an emulated cloud (mininet/cloud.py: each hypervisor its own namespace and Open
vSwitch) of ``--joining`` + 3 hypervisors, onboards 3 of them, then onboards the others
one at a time, each fresh (only the operator's br-phy and br-eth1, and its
``external_ids``).  For each it measures the time from the start of `set-manager` to the
moment it is fully programmed: its agent alive (OVSDB session up, br-int, br-tun and
br-eth1 connected over OpenFlow) and every flow the controller sent it confirmed by
barrier replies (GET /v2.0/wiring), including those that name its patch ports.  The
controller builds br-int, br-tun, both patch pairs and their settings in that time.
Run with `make bench`.
"""
from __future__ import annotations

import argparse
import statistics
import time

from tests.bench import machine
from tests.emulation import agents, started_cloud, tear_down

SEED = 3   # hypervisors already in the cloud when the first one joins


def programmed(ctl, hypervisor, since: float) -> float | None:
    """When the hypervisor's last confirmed flow-mods were confirmed, once it is alive, has
    its patch ports' flows and nothing of it is waiting for confirmation; else None."""
    if not agents(ctl).get(hypervisor.name, {}).get("alive"):
        return None
    tun_flows = hypervisor.ofctl("dump-flows", "br-tun", "table=0")
    if "actions=goto_table:1" not in tun_flows:      # the flow from patch-int
        return None
    events = [event for event in ctl.api.get("/v2.0/wiring")[1]["wiring"]["events"]
              if hypervisor.name in event["hosts"] and event["started_at"] >= since]
    if not events or any(event["confirmed_at"] is None for event in events):
        return None
    return max(event["confirmed_at"] for event in events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--joining", type=int, default=5)
    args = parser.parse_args()
    fabric = started_cloud(SEED + args.joining, "j", 61)
    ctl = fabric.controller
    try:
        for hypervisor in fabric.hypervisors[:SEED]:
            hypervisor.onboard(fabric.controller_ip, ctl.ovsdb_port)
        ctl.wait_for(lambda: len(agents(ctl)) == SEED and all(
            agent["alive"] for agent in agents(ctl).values()), timeout=30)
        times = []
        for hypervisor in fabric.hypervisors[SEED:]:
            started = time.time()
            hypervisor.onboard(fabric.controller_ip, ctl.ovsdb_port)
            done = ctl.wait_for(lambda h=hypervisor, t=started: programmed(ctl, h, t), timeout=30,
                                interval=0.01)
            times.append((done - started) * 1e3)
    finally:
        tear_down(fabric)
    print(machine())
    print(f"onboarding, set-manager -> fully programmed, {len(times)} hypervisors joining "
          f"a cloud of {SEED} to {SEED + len(times) - 1}: median {statistics.median(times):.0f} "
          f"ms, min {min(times):.0f} ms, max {max(times):.0f} ms")


if __name__ == "__main__":
    main()
