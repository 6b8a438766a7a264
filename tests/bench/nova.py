"""How the benchmarks' hypervisors boot VMs, as Nova does: a few build workers per
hypervisor, each creating a VM's port and then plugging its device, the ports placed
round-robin so that every network spans every hypervisor."""
from __future__ import annotations

import json
import socket
import threading
from typing import Any, Callable

from tests.harness import Api

# by hypervisor: (network, device) each; a network is whatever names it to the workers
Placement = dict[int, list[tuple[Any, str]]]


class Plugger:
    """A hypervisor's VIF plugging, as Nova's os-vif does it: the device added to br-int
    with its port's iface-id, in one transaction (its own OVSDB socket)."""

    def __init__(self, hypervisor):
        self.db = socket.socket(socket.AF_UNIX)
        self.db.connect(str(hypervisor.rundir / "db.sock"))
        self.requests = 0

    def plug(self, device: str, port_id: str) -> None:
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
        self.db.close()


class NovaBuild(Plugger):
    """One of a hypervisor's Nova build workers: creates a VM's port over REST, then plugs
    its device (its own REST connection and OVSDB socket)."""

    def __init__(self, hypervisor, api_port: int):
        super().__init__(hypervisor)
        self.api = Api(api_port)

    def boot(self, network_id: str, device: str) -> dict:
        port = self.api.create("port", network_id=network_id)
        self.plug(device, port["id"])
        return port

    def close(self) -> None:
        self.api.close()
        super().close()


def place(network_ids: list, per_network: int, hypervisors: int) -> Placement:
    """A network's k-th port on hypervisor k mod H, so every network spans them all."""
    placement: Placement = {h: [] for h in range(hypervisors)}
    for position in range(per_network):
        for index, network_id in enumerate(network_ids):
            device = f"vm{position * len(network_ids) + index}"
            placement[position % hypervisors].append((network_id, device))
    return placement


def in_parallel(fabric, work: dict[int, list], builds: int,
                builder: Callable[[object], Plugger],
                step: Callable[[Plugger, object], None]) -> None:
    """Every hypervisor works through its list, ``builds`` items at a time (each worker
    made by ``builder``), all hypervisors at once."""
    def worker(hypervisor, queue: list) -> None:
        nova = builder(hypervisor)
        try:
            while queue:
                try:
                    item = queue.pop(0)
                except IndexError:
                    return
                step(nova, item)
        finally:
            nova.close()
    threads = [threading.Thread(target=worker, args=(fabric.hypervisors[h], items))
               for h, items in work.items() for _ in range(builds)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
