"""Benchmark: port wiring latency, from a VM device appearing on br-int to every
affected flow confirmed (barrier replies) on every affected bridge.

Builds an emulated cloud of N chassis (mininet/cloud.py: real OVS, VXLAN mesh),
starts the real controller, and plugs devices one at a time into two networks:
"wide" has ports on every chassis, "pair" only on two.  For each plug it reads
the controller's record of the event (GET /v2.0/wiring) and prints medians:
end to end (from the start of `ovs-vsctl add-port`), inside the controller
(from the port-status message to the last barrier reply), and flow-mods and
bridges per event, which should grow with the chassis sharing the network, not
with the size of the cloud.  Run with `make bench`.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

from tests.bench import machine
from tests.harness import ROOT, Controller

sys.path.insert(0, str(ROOT / "mininet"))
import cloud as emulation  # noqa: E402  (a directory of modules, not a package)


def _confirmed_event(ctl: Controller, device: str) -> dict:
    def find():
        for event in reversed(ctl.api.get("/v2.0/wiring")[1]["wiring"]["events"]):
            if event.get("port") == device and event["event"] == "port-added":
                return event if event["confirmed_at"] else None
        return None
    return ctl.wait_for(find, timeout=10, interval=0.002)


def measure(size: int, rounds: int) -> dict[str, list[dict]]:
    fabric = emulation.Cloud(size, of_port=0, prefix="b", net="172.30", tunnel_types=("vxlan",))
    ctl = Controller(chassis=fabric.config_lines())
    fabric.of_port = ctl.of_port
    ctl.start()
    plugged: list[tuple[str, str]] = []
    try:
        fabric.build()
        ctl.wait_for(lambda: all(a["alive"] for a in ctl.api.get("/v2.0/agents")[1]["agents"]),
                     timeout=60)
        spans = {"wide": fabric.chassis, "pair": fabric.chassis[:2]}
        networks = {name: ctl.api.create("network", name=name)["id"] for name in spans}
        for network_id in networks.values():
            ctl.api.create("subnet", network_id=network_id, cidr="10.9.0.0/16", ip_version=4)
        samples: dict[str, list[dict]] = {name: [] for name in spans}
        for index in range(rounds):
            for name, span in spans.items():
                bridge = span[index % len(span)].int_bridge
                port = ctl.api.create("port", network_id=networks[name])
                device = "tap" + port["id"][:11]
                started = time.time()
                subprocess.run(["ovs-vsctl", "add-port", bridge, device, "--", "set",
                                "interface", device, "type=internal"], check=True)
                plugged.append((bridge, device))
                event = _confirmed_event(ctl, device)
                samples[name].append({**event,
                                      "end_to_end_ms": (event["confirmed_at"] - started) * 1e3})
        return samples
    finally:
        for bridge, device in plugged:
            subprocess.run(["ovs-vsctl", "--if-exists", "del-port", bridge, device])
        fabric.teardown()
        ctl.kill()
        shutil.rmtree(ctl.workdir, ignore_errors=True)


def _median(samples: list[dict], key: str) -> float:
    return statistics.median(sample[key] for sample in samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="3,8")
    parser.add_argument("--rounds", type=int, default=24)
    args = parser.parse_args()
    print(machine())
    print(f"{'chassis':>7} {'network':>7} {'events':>6} {'end-to-end ms':>14} {'p90':>6} "
          f"{'controller ms':>14} {'flow-mods':>9} {'bridges':>7}")
    for size in (int(s) for s in args.sizes.split(",")):
        for name, samples in measure(size, args.rounds).items():
            ends = sorted(s["end_to_end_ms"] for s in samples)
            print(f"{size:>7} {name:>7} {len(samples):>6} {statistics.median(ends):>14.1f} "
                  f"{ends[int(len(ends) * 0.9)]:>6.1f} {_median(samples, 'latency_ms'):>14.1f} "
                  f"{_median(samples, 'flow_mods'):>9.0f} {_median(samples, 'bridges'):>7.0f}")


if __name__ == "__main__":
    main()
