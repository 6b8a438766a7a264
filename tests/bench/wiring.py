"""Benchmark: port wiring latency, from a VM device appearing on a hypervisor's br-int to
every affected flow confirmed (barrier replies) on every affected bridge.

Builds an emulated cloud of N hypervisors (mininet/cloud.py: each its own namespace and
Open vSwitch, onboarded with its two commands), and plugs devices one at a time (with
``external_ids:iface-id``) into two networks: "wide" has ports on every hypervisor,
"pair" only on two.  For each plug it reads the controller's record of the event
(GET /v2.0/wiring) and prints medians: end to end (from the start of `ovs-vsctl
add-port`), inside the controller (from the OVSDB update to the last barrier reply),
and flow-mods and bridges per event, which should grow with the hypervisors sharing
the network, not with the size of the cloud.  Run with `make bench`.
"""
from __future__ import annotations

import argparse
import statistics
import time

from tests.bench import NO_QUOTAS, machine
from tests.emulation import onboarded_cloud, tear_down
from tests.harness import Controller


def confirmed_event(ctl: Controller, device: str) -> dict:
    """The controller's event that saw the device appear, once its flows are confirmed."""
    def find():
        for event in reversed(ctl.api.get("/v2.0/wiring")[1]["wiring"]["events"]):
            if device in event.get("ports_added", ()):
                return event if event["confirmed_at"] else None
        return None
    return ctl.wait_for(find, timeout=10, interval=0.002)


def measure(size: int, rounds: int) -> dict[str, list[dict]]:
    fabric = onboarded_cloud(size, "b", 60, extra=NO_QUOTAS)
    ctl = fabric.controller
    try:
        spans = {"wide": fabric.hypervisors, "pair": fabric.hypervisors[:2]}
        networks = {name: ctl.api.create("network", name=name)["id"] for name in spans}
        for network_id in networks.values():
            ctl.api.create("subnet", network_id=network_id, cidr="10.9.0.0/16", ip_version=4)
        samples: dict[str, list[dict]] = {name: [] for name in spans}
        for index in range(rounds):
            for name, span in spans.items():
                hypervisor = span[index % len(span)]
                port = ctl.api.create("port", network_id=networks[name])
                device = f"bench{index}{name[0]}"
                started = time.time()
                hypervisor.vsctl("add-port", "br-int", device, "--", "set", "interface",
                                 device, "type=internal", f"external_ids:iface-id={port['id']}")
                event = confirmed_event(ctl, device)
                samples[name].append({**event,
                                      "end_to_end_ms": (event["confirmed_at"] - started) * 1e3})
        return samples
    finally:
        tear_down(fabric)


def _median(samples: list[dict], key: str) -> float:
    return statistics.median(sample[key] for sample in samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="3,8")
    parser.add_argument("--rounds", type=int, default=24)
    args = parser.parse_args()
    print(machine())
    print(f"{'hypervisors':>11} {'network':>7} {'events':>6} {'end-to-end ms':>14} {'p90':>6} "
          f"{'controller ms':>14} {'flow-mods':>9} {'bridges':>7}")
    for size in (int(s) for s in args.sizes.split(",")):
        for name, samples in measure(size, args.rounds).items():
            ends = sorted(s["end_to_end_ms"] for s in samples)
            print(f"{size:>11} {name:>7} {len(samples):>6} {statistics.median(ends):>14.1f} "
                  f"{ends[int(len(ends) * 0.9)]:>6.1f} {_median(samples, 'latency_ms'):>14.1f} "
                  f"{_median(samples, 'flow_mods'):>9.0f} {_median(samples, 'bridges'):>7.0f}")


if __name__ == "__main__":
    main()
