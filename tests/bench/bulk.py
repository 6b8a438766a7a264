"""Benchmark: bulk programming, OVN's workload.  H hypervisors, N tenant networks of P
ports each, ports placed round-robin over the hypervisors.

The clock runs from the first REST write until everything the controller sent for the
ports is confirmed: every flow-mod by a barrier reply, every OVSDB transaction (the
ports' local VLAN tags) by its answer.  The networks and subnets are created first; then
each hypervisor boots its VMs as Nova would, all hypervisors at once, up to ``--builds``
at a time each (Nova's ``max_concurrent_builds``, 10 by default): for each VM, create its
port over REST, then plug its device into br-int (one OVSDB transaction).  At the end
every hypervisor must answer ARP (br-tun table 21) for every remote port of its networks,
and every VM port must have its local VLAN tag.
It reports ports per second, the controller's CPU time per port, flows per hypervisor,
and the end-to-end latency of one more port plugged at that size.  Run with
`make bench`.
"""
from __future__ import annotations

import argparse
import json
import socket
import statistics
import threading
import time

from tests.bench import NO_QUOTAS, machine
from tests.bench.wiring import confirmed_event
from tests.emulation import onboarded_cloud, tear_down
from tests.harness import Api, Controller


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100   # clock ticks: 100 per second


class Hypervisor:
    """One of a hypervisor's Nova build workers: creates a VM's port over REST, then plugs
    its device (its own REST connection and OVSDB socket)."""

    def __init__(self, hypervisor, api_port: int):
        self.api = Api(api_port)
        self.db = socket.socket(socket.AF_UNIX)
        self.db.connect(str(hypervisor.rundir / "db.sock"))
        self.requests = 0

    def boot(self, network_id: str, device: str) -> dict:
        port = self.api.create("port", network_id=network_id)
        self.plug(device, port["id"])
        return port

    def plug(self, device: str, port_id: str) -> None:
        """The device, added to br-int with its port's iface-id, in one transaction."""
        self.requests += 1
        request = {"method": "transact", "id": self.requests, "params": ["Open_vSwitch",
            {"op": "insert", "table": "Interface", "uuid-name": "i",
             "row": {"name": device, "type": "internal",
                     "external_ids": ["map", [["iface-id", port_id]]]}},
            {"op": "insert", "table": "Port", "uuid-name": "p",
             "row": {"name": device, "interfaces": ["named-uuid", "i"]}},
            {"op": "mutate", "table": "Bridge", "where": [["name", "==", "br-int"]],
             "mutations": [["ports", "insert", ["set", [["named-uuid", "p"]]]]]}]}
        self.db.sendall(json.dumps(request).encode())
        reply = b""
        while reply.count(b"{") == 0 or reply.count(b"{") != reply.count(b"}"):
            reply += self.db.recv(65536)

    def close(self) -> None:
        self.api.close()
        self.db.close()


def programmed(ctl: Controller, fabric, since: float, ports: int,
               remote: list[int]) -> float | None:
    """When the last flow-mods and transactions sent since ``since`` were confirmed, once
    every port is ACTIVE, every hypervisor answers ARP for every remote port of its
    networks and has tagged its VMs' ports, and nothing waits for an answer; else None."""
    statuses = ctl.api.get("/v2.0/ports?fields=status")[1]["ports"]
    if sum(port["status"] == "ACTIVE" for port in statuses) < ports:
        return None
    events = [event for event in ctl.api.get("/v2.0/wiring")[1]["wiring"]["events"]
              if event["started_at"] >= since]
    if any(event["confirmed_at"] is None for event in events):
        return None
    # only now read the switches (each read costs a process per hypervisor)
    if any(arp_answers(hypervisor) < wanted
           for hypervisor, wanted in zip(fabric.hypervisors, remote, strict=True)):
        return None
    if any(untagged_vms(hypervisor) for hypervisor in fabric.hypervisors):
        return None
    return max(event["confirmed_at"] for event in events)


def arp_answers(hypervisor) -> int:
    return sum("arp_tpa=" in line for line in
               hypervisor.ofctl("dump-flows", "br-tun", "table=21").splitlines())


def untagged_vms(hypervisor) -> int:
    """VM ports (vm*, extra*) without a local VLAN tag (none, or the dead VLAN 4095)."""
    rows = hypervisor.vsctl("--format=csv", "--no-headings", "--columns=name,tag", "list",
                            "port").splitlines()
    return sum(1 for row in rows if row.startswith(("vm", "extra"))
               and row.split(",")[1] in ("[]", "4095"))


def boot_all(fabric, api_port: int, placement: dict[int, list[tuple[str, str]]],
             builds: int) -> None:
    """Every hypervisor boots its VMs, ``builds`` at a time, all hypervisors at once."""
    def worker(hypervisor, queue: list[tuple[str, str]]) -> None:
        nova = Hypervisor(hypervisor, api_port)
        try:
            while queue:
                try:
                    vm = queue.pop(0)
                except IndexError:
                    return
                nova.boot(*vm)
        finally:
            nova.close()
    threads = [threading.Thread(target=worker, args=(fabric.hypervisors[h], vms))
               for h, vms in placement.items() for _ in range(builds)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def measure(hypervisors: int, networks: int, per_network: int, extra: int,
            builds: int) -> dict:
    fabric = onboarded_cloud(hypervisors, "k", 62, extra=NO_QUOTAS)
    ctl = fabric.controller
    novas = [Hypervisor(h, ctl.api_port) for h in fabric.hypervisors]
    try:
        cpu_before = cpu_seconds(ctl.process.pid)
        started = time.time()
        network_ids = [ctl.api.create("network", name=f"bulk{i}")["id"] for i in range(networks)]
        for index, network_id in enumerate(network_ids):
            ctl.api.create("subnet", network_id=network_id, ip_version=4,
                           cidr=f"10.{index}.0.0/24")
        placement: dict[int, list[tuple[str, str]]] = {h: [] for h in range(hypervisors)}
        for position in range(per_network):   # a network's k-th port on hypervisor k mod H
            for index, network_id in enumerate(network_ids):
                device = f"vm{position * networks + index}"
                placement[position % hypervisors].append((network_id, device))
        boot_all(fabric, ctl.api_port, {h: list(vms) for h, vms in placement.items()}, builds)
        ports = networks * per_network
        # every network spans every hypervisor: all ports elsewhere are remote
        remote = [ports - len(placement[h]) for h in range(hypervisors)]
        done = ctl.wait_for(lambda: programmed(ctl, fabric, started, ports, remote),
                            timeout=120, interval=0.05)
        cpu = cpu_seconds(ctl.process.pid) - cpu_before
        flows = [sum(len(h.ofctl("dump-flows", bridge).splitlines()) - 1
                     for bridge in ("br-int", "br-tun", "br-eth1"))
                 for h in fabric.hypervisors]
        singles = []
        for index in range(extra):
            nova = novas[index % hypervisors]
            port = ctl.api.create("port", network_id=network_ids[index % networks])
            device = f"extra{index}"
            began = time.time()
            nova.plug(device, port["id"])
            event = confirmed_event(ctl, device)
            singles.append((event["confirmed_at"] - began) * 1e3)
        return {"ports": ports, "seconds": done - started, "cpu": cpu,
                "flows": statistics.mean(flows), "one_more_ms": statistics.median(singles)}
    finally:
        for nova in novas:
            nova.close()
        tear_down(fabric)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hypervisors", type=int, default=8)
    parser.add_argument("--networks", type=int, default=20)
    parser.add_argument("--ports", type=int, default=25, help="per network")
    parser.add_argument("--extra", type=int, default=20, help="single ports plugged after")
    parser.add_argument("--builds", type=int, default=10,
                        help="VMs each hypervisor boots at a time (Nova's max_concurrent_builds)")
    parser.add_argument("--runs", type=int, default=3, help="each on a fresh cloud")
    args = parser.parse_args()
    print(machine())
    print(f"bulk: {args.hypervisors} hypervisors, {args.networks} networks x {args.ports} "
          f"ports, {args.builds} builds at a time per hypervisor")
    results = []
    for run in range(args.runs):
        result = measure(args.hypervisors, args.networks, args.ports, args.extra, args.builds)
        result.update(rate=result["ports"] / result["seconds"],
                      cpu_ms=1000 * result["cpu"] / result["ports"])
        results.append(result)
        print(f"  run {run + 1}: {result['ports']} ports in {result['seconds']:.2f} s = "
              f"{result['rate']:.0f} ports/s; controller CPU {result['cpu_ms']:.2f} ms/port; "
              f"{result['flows']:.0f} flows per hypervisor; one more port "
              f"{result['one_more_ms']:.1f} ms median end to end")
    for key, what in (("rate", "ports/s"), ("cpu_ms", "controller CPU ms/port"),
                      ("one_more_ms", "one more port, ms end to end")):
        values = sorted(result[key] for result in results)
        print(f"  {what}: min {values[0]:.1f}, median {statistics.median(values):.1f}, "
              f"max {values[-1]:.1f}")


if __name__ == "__main__":
    main()
