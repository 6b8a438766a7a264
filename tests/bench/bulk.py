"""Benchmark: bulk programming, OVN's workload.  H hypervisors, N tenant networks of P
ports each, ports placed round-robin over the hypervisors.

The clock runs from the first REST write (networks, subnets, ports, four clients) through
the plugging of every port on its hypervisor (one OVSDB transaction per VM device, as
Nova plugs them, all hypervisors at once) until every flow-mod the controller sent for
them is confirmed by a barrier reply.  Then it checks that every hypervisor answers ARP
(br-tun table 21) for every remote port of its networks, and reports ports per second,
the controller's CPU time per port, flows per hypervisor, and the end-to-end latency of
one more port plugged at that size.  Run with `make bench`.
"""
from __future__ import annotations

import argparse
import json
import socket
import statistics
import threading
import time

from tests.bench import machine
from tests.bench.wiring import confirmed_event
from tests.emulation import onboarded_cloud, tear_down
from tests.harness import Api, Controller


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100   # clock ticks: 100 per second


def create_ports(port: int, networks: list[str], per_network: int) -> list[dict]:
    """Ports of every network, in round-robin order of creation, from four clients."""
    made: list[dict] = [None] * (len(networks) * per_network)   # type: ignore[list-item]

    def work(offset: int) -> None:
        api = Api(port)
        for index in range(offset, len(made), 4):
            made[index] = api.create("port", network_id=networks[index % len(networks)])
        api.close()
    threads = [threading.Thread(target=work, args=(offset,)) for offset in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return made


def plug(hypervisor, ports: list[tuple[str, str]]) -> None:
    """Each (device, port id) added to br-int in its own OVSDB transaction."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(hypervisor.rundir / "db.sock"))
        for number, (device, port_id) in enumerate(ports):
            request = {"method": "transact", "id": number, "params": ["Open_vSwitch",
                {"op": "insert", "table": "Interface", "uuid-name": "i",
                 "row": {"name": device, "type": "internal",
                         "external_ids": ["map", [["iface-id", port_id]]]}},
                {"op": "insert", "table": "Port", "uuid-name": "p",
                 "row": {"name": device, "interfaces": ["named-uuid", "i"]}},
                {"op": "mutate", "table": "Bridge", "where": [["name", "==", "br-int"]],
                 "mutations": [["ports", "insert", ["set", [["named-uuid", "p"]]]]]}]}
            sock.sendall(json.dumps(request).encode())
            reply = b""
            while reply.count(b"{") == 0 or reply.count(b"{") != reply.count(b"}"):
                reply += sock.recv(65536)


def programmed(ctl: Controller, fabric, since: float, ports: int,
               remote: list[int]) -> float | None:
    """When the last flow-mods sent since ``since`` were confirmed, once every port is
    ACTIVE, every hypervisor answers ARP for every remote port of its networks, and
    nothing waits for a barrier reply; else None."""
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
    return max(event["confirmed_at"] for event in events)


def arp_answers(hypervisor) -> int:
    return sum("arp_tpa=" in line for line in
               hypervisor.ofctl("dump-flows", "br-tun", "table=21").splitlines())


def measure(hypervisors: int, networks: int, per_network: int, extra: int) -> dict:
    fabric = onboarded_cloud(hypervisors, "k", 62)
    ctl = fabric.controller
    try:
        cpu_before = cpu_seconds(ctl.process.pid)
        started = time.time()
        network_ids = [ctl.api.create("network", name=f"bulk{i}")["id"] for i in range(networks)]
        for index, network_id in enumerate(network_ids):
            ctl.api.create("subnet", network_id=network_id, ip_version=4,
                           cidr=f"10.{index}.0.0/24")
        ports = create_ports(ctl.api_port, network_ids, per_network)
        placement: dict[int, list[tuple[str, str]]] = {h: [] for h in range(hypervisors)}
        for index, port in enumerate(ports):   # a network's k-th port on hypervisor k mod H
            placement[index // networks % hypervisors].append((f"vm{index}", port["id"]))
        pluggers = [threading.Thread(target=plug, args=(fabric.hypervisors[h], devices))
                    for h, devices in placement.items()]
        for thread in pluggers:
            thread.start()
        for thread in pluggers:
            thread.join()
        # every network spans every hypervisor: all ports elsewhere are remote
        remote = [len(ports) - len(placement[h]) for h in range(hypervisors)]
        done = ctl.wait_for(lambda: programmed(ctl, fabric, started, len(ports), remote),
                            timeout=120, interval=0.05)
        cpu = cpu_seconds(ctl.process.pid) - cpu_before
        flows = [sum(len(h.ofctl("dump-flows", bridge).splitlines()) - 1
                     for bridge in ("br-int", "br-tun", "br-eth1"))
                 for h in fabric.hypervisors]
        singles = []
        for index in range(extra):
            port = ctl.api.create("port", network_id=network_ids[index % networks])
            device = f"extra{index}"
            began = time.time()
            plug(fabric.hypervisors[index % hypervisors], [(device, port["id"])])
            event = confirmed_event(ctl, device)
            singles.append((event["confirmed_at"] - began) * 1e3)
        return {"ports": len(ports), "seconds": done - started, "cpu": cpu,
                "flows": statistics.mean(flows), "one_more_ms": statistics.median(singles)}
    finally:
        tear_down(fabric)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hypervisors", type=int, default=8)
    parser.add_argument("--networks", type=int, default=20)
    parser.add_argument("--ports", type=int, default=25, help="per network")
    parser.add_argument("--extra", type=int, default=20, help="single ports plugged after")
    args = parser.parse_args()
    result = measure(args.hypervisors, args.networks, args.ports, args.extra)
    print(machine())
    print(f"bulk: {args.hypervisors} hypervisors, {args.networks} networks x {args.ports} "
          f"ports: {result['ports']} ports in {result['seconds']:.2f} s = "
          f"{result['ports'] / result['seconds']:.0f} ports/s; controller CPU "
          f"{1000 * result['cpu'] / result['ports']:.2f} ms/port; "
          f"{result['flows']:.0f} flows per hypervisor; one more port "
          f"{result['one_more_ms']:.1f} ms median end to end")


if __name__ == "__main__":
    main()
