"""Emulated clouds for tests and benchmarks: hypervisors from mininet/cloud.py (each its
own namespace and Open vSwitch) and a real controller on their management network."""
from __future__ import annotations

import shutil
import sys
from typing import Iterator

from tests.e2e.dataplane import wires_heard
from tests.harness import ROOT, Controller

sys.path.insert(0, str(ROOT / "mininet"))
import cloud as emulation  # noqa: E402  (mininet/ is a directory of modules, not a package)


def agents(ctl: Controller) -> dict[str, dict]:
    return {agent["host"]: agent for agent in ctl.api.get("/v2.0/agents")[1]["agents"]}


def all_alive(ctl: Controller, size: int) -> bool:
    found = agents(ctl)
    return len(found) == size and all(agent["alive"] for agent in found.values())


def leaving_through(fabric: emulation.Cloud, vm) -> list[str]:
    """The hypervisors whose external wire carries the VM's pings to the internet host."""
    wires = {f"ex-{hypervisor.name}": hypervisor.name for hypervisor in fabric.hypervisors}
    heard = wires_heard({wire: ["icmp"] for wire in wires},
                        lambda: vm.host.cmd(f"ping -c3 -i0.2 {emulation.INTERNET_HOST}"))
    return [name for wire, name in wires.items() if "echo request" in heard[wire]]


def public_network(api, **subnet) -> tuple[dict, dict]:
    """The external flat network ``public`` the emulation's br-ex bridges carry, with its
    subnet 203.0.113.0/24 behind the upstream router 203.0.113.1 (``subnet``: more
    fields)."""
    network = api.create("network", name="public", **{
        "router:external": True, "provider:network_type": "flat",
        "provider:physical_network": "public"})
    created = api.create("subnet", network_id=network["id"], cidr="203.0.113.0/24",
                         ip_version=4, gateway_ip="203.0.113.1", enable_dhcp=False, **subnet)
    return network, created


def started_cloud(size: int, prefix: str, subnet: int, external: bool = False,
                  gateways: tuple[int, ...] = (), **controller) -> emulation.Cloud:
    """The hypervisors, running, and a controller listening on their management network;
    not yet onboarded.  ``external``: with the external network and its upstream router;
    ``gateways``: the hypervisors (by index) that are gateway nodes (dvr_snat)."""
    fabric = emulation.Cloud(size, prefix=prefix, subnet=subnet, external=external,
                             gateways=gateways).build()
    fabric.controller = Controller(listen=fabric.controller_ip, **controller).start()
    return fabric


def onboarded_cloud(size: int, prefix: str, subnet: int, external: bool = False,
                    gateways: tuple[int, ...] = (), **controller) -> emulation.Cloud:
    """A started cloud whose hypervisors ran their two commands and are alive."""
    fabric = started_cloud(size, prefix, subnet, external, gateways, **controller)
    ctl = fabric.controller
    for hypervisor in fabric.hypervisors:   # in order: DVR MACs are given as they join
        hypervisor.onboard(fabric.controller_ip, ctl.ovsdb_port)
        ctl.wait_for(lambda name=hypervisor.name: name in agents(ctl), timeout=30)
    ctl.wait_for(lambda: all_alive(ctl, size), timeout=30)
    return fabric


def tear_down(fabric: emulation.Cloud) -> None:
    fabric.teardown()
    fabric.controller.kill()
    shutil.rmtree(fabric.controller.workdir, ignore_errors=True)


def serving(fabric: emulation.Cloud) -> Iterator[emulation.Cloud]:
    """A module fixture's body: the cloud for the tests, then torn down.  A message a
    switch refused (an OpenFlow error: a flow Open vSwitch would not take, which no
    packet test may happen to cross) fails the module."""
    try:
        yield fabric
        refused = [line for line in fabric.controller.log().splitlines()
                   if "refused a message" in line]
        assert not refused, "\n".join(refused[:5])
    finally:
        tear_down(fabric)
