"""`make demo`: the controller, three emulated hypervisors, two tenants, VMs, a Mininet CLI.

Builds three hypervisors with mininet/cloud.py (each its own network namespace and
Open vSwitch), starts ryu-manager on their management network (its log and database
under a temporary directory), onboards them with their two commands, creates over
REST two tenants' VXLAN networks with the same CIDR, boots red VMs on all three
hypervisors and blue VMs on two; red has a second network (10.1.0.0/24, a VM on n2)
behind a distributed router.  Each VM gets its address, gateway and MTU by DHCP
(dhclient), answered on its own hypervisor.  Then it opens the Mininet CLI (try ``pingall``: red
reaches red, also across the router, blue reaches blue, and nothing crosses).
``--no-cli`` prints the VMs, each bridge's flows and two traces instead, which is how the
README's walk-through was made.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "mininet")]

import cloud as emulation  # noqa: E402
from mininet.cli import CLI  # noqa: E402
from mininet.net import Mininet  # noqa: E402

from tests.emulation import onboarded_cloud, tear_down  # noqa: E402

TENANTS = {"red": (0, 1, 2), "blue": (0, 1)}  # project -> chassis of its VMs


def demo_mac(tenant: int, chassis: int) -> str:
    """Fixed MACs, so that the demo's flows are the same every run (the README's)."""
    return f"fa:16:3e:00:{tenant + 1:02x}:{chassis:02x}"


def populate(api, fabric: emulation.Cloud) -> list[tuple[str, emulation.Vm]]:
    vms = []
    subnets = {}
    for number, (project, placement) in enumerate(TENANTS.items()):
        network = api.create("network", name=f"{project}-net", project_id=project)
        subnets[project] = api.create("subnet", network_id=network["id"], cidr="10.0.0.0/24",
                                      ip_version=4, project_id=project, name=f"{project}-subnet")
        fix_dhcp_mac(api, network, number)
        for chassis in placement:
            port = api.create("port", network_id=network["id"], project_id=project,
                              name=f"{project}-vm{chassis}",
                              mac_address=demo_mac(number, chassis))
            vms.append((project, fabric.boot(port, fabric.hypervisors[chassis], dhcp=True)))
    vms.append(("red", route_red(api, fabric, subnets["red"])))
    return vms


def fix_dhcp_mac(api, network: dict, number: int) -> None:
    """The network's DHCP port (made with its subnet) gets a fixed MAC too."""
    ports = api.get(f"/v2.0/ports?network_id={network['id']}&device_owner=network:dhcp")[1]
    api.put(f"/v2.0/ports/{ports['ports'][0]['id']}",
            {"port": {"mac_address": f"fa:16:3e:00:0d:{number:02x}"}})


def route_red(api, fabric: emulation.Cloud, red_subnet: dict) -> emulation.Vm:
    """Red's second network, 10.1.0.0/24, joined to the first by a distributed router
    (interfaces with fixed MACs too), with a VM on n2."""
    network = api.create("network", name="red-db", project_id="red")
    subnet = api.create("subnet", network_id=network["id"], cidr="10.1.0.0/24", ip_version=4,
                        project_id="red", name="red-db-subnet")
    fix_dhcp_mac(api, network, 2)
    router = api.create("router", name="red-router", project_id="red")
    for number, joined in enumerate((red_subnet, subnet)):
        interface = api.create("port", network_id=joined["network_id"], project_id="red",
                               mac_address=f"fa:16:3e:00:0a:{number:02x}",
                               fixed_ips=[{"subnet_id": joined["id"],
                                           "ip_address": joined["gateway_ip"]}])
        api.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                {"port_id": interface["id"]})
    port = api.create("port", network_id=network["id"], project_id="red", name="red-db-vm2",
                      mac_address=demo_mac(2, 2))
    return fabric.boot(port, fabric.hypervisors[2], dhcp=True)


def show(vms: list[tuple[str, emulation.Vm]]) -> None:
    for project, vm in vms:
        print(f"{project:5} {vm.host.name:11} port {vm.port_id} on {vm.hypervisor.name}  "
              f"{vm.ip:10} {vm.mac}  device {vm.device}")


def dump_flows(fabric: emulation.Cloud) -> None:
    for hypervisor in fabric.hypervisors:
        for bridge in ("br-int", "br-tun", "br-eth1"):
            print(f"\n{hypervisor.name}$ ovs-ofctl -O OpenFlow13 dump-flows {bridge} --no-stats")
            print(hypervisor.ofctl("dump-flows", bridge, "--no-stats"))


TRACES = (("red-vm0", "10.0.0.4", "arp"), ("red-vm0", "10.1.0.3", "icmp"))


def traces(api) -> None:
    """What ``python -m ryu_app.cli trace`` prints for an ARP and a routed ping from n0."""
    for port, destination, protocol in TRACES:
        print(f"\n$ .venv/bin/python -m ryu_app.cli trace {port} {destination} --proto {protocol}")
        status, body = api.get(f"/v2.0/trace?port={port}&dst={destination}&proto={protocol}")
        print(body["trace"]["text"] if status == 200 else body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-cli", action="store_true", help="print flows and exit")
    args = parser.parse_args()
    fabric = onboarded_cloud(3, "n", 10)
    ctl = fabric.controller
    print(f"controller: http://127.0.0.1:{ctl.api_port}/v2.0/  (log: {ctl.log_path})")
    try:
        placed = populate(ctl.api, fabric)
        vms = [vm for _, vm in placed]
        for vm in vms:
            ctl.wait_for(lambda vm=vm: ctl.api.get(f"/v2.0/ports/{vm.port_id}")[1]["port"]
                         ["status"] == "ACTIVE")
        for vm in vms:
            lease = vm.dhcp()
            if lease is None or lease["new_ip_address"] != vm.ip:
                raise SystemExit(f"demo: {vm.host.name} got no DHCP lease for {vm.ip}")
        show(placed)
        if args.no_cli:
            vms[0].host.cmd(f"ping -c1 -W1 {vms[1].ip}")  # something learned in table 20
            vms[0].host.cmd(f"ping -c1 -W1 {vms[-1].ip}")  # and routed
            dump_flows(fabric)
            traces(ctl.api)
            return
        print("A hypervisor's own Open vSwitch, e.g.: ip netns exec n0 env "
              f"OVS_RUNDIR={fabric.hypervisors[0].rundir} ovs-vsctl show")
        net = Mininet(topo=None, build=False, controller=None)
        for vm in vms:
            net.hosts.append(vm.host)
            net.nameToNode[vm.host.name] = vm.host
        CLI(net)
    finally:
        tear_down(fabric)


if __name__ == "__main__":
    main()
