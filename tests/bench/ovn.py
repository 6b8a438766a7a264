"""OVN on the bulk workload (tests/bench/bulk.py), back to back with this controller: the
same emulated hypervisors, the same placement and the same plugs, so that the two rates
are compared as a ratio measured in one `make bench` (this machine's speed varies by 40%
within a day, so a rate measured on another day is no yardstick).

OVN here is Debian 12's 23.03, the version the bulk benchmark's target was set against:
NB and SB ovsdb-servers and ovn-northd in the root namespace, the SB listening on the
management network, and an ovn-controller in every hypervisor's namespace next to its own
Open vSwitch (Geneve between them).  Each build worker creates its VM's logical switch
port in one NB transaction, written as Neutron's OVN driver writes it (addresses, port
security, the subnet's DHCP options), then plugs the device exactly as the bulk
benchmark does.  The clock runs from the first NB write until every port is up (its
ovn-controller has installed its flows) and every hypervisor answers ARP for every
remote port of its switches.
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from tests.bench.nova import Placement, Plugger, in_parallel, place
from tests.bench.cpu import CpuSplit
from tests.emulation import emulation

SCHEMAS = Path("/usr/share/ovn")
RUNDIR = emulation.RUN_ROOT / "ovn-central"


class Rpc:
    """OVSDB JSON-RPC over a unix socket: transactions, one at a time."""

    def __init__(self, path: Path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(str(path))
        self.decoder = json.JSONDecoder()
        self.pending = ""
        self.requests = 0

    def transact(self, database: str, *operations: dict) -> list[dict]:
        self.requests += 1
        self.sock.sendall(json.dumps({"method": "transact", "id": self.requests,
                                      "params": [database, *operations]}).encode())
        while True:
            message = self._next()
            if message.get("id") != self.requests:
                continue    # an echo or a notification: not the answer
            results = message.get("result") or []
            if message.get("error") or any(result and "error" in result
                                           for result in results):
                raise RuntimeError(f"{database}: {message}")
            return results

    def _next(self) -> dict:
        while True:
            self.pending = self.pending.lstrip()
            if self.pending:
                try:
                    message, end = self.decoder.raw_decode(self.pending)
                except json.JSONDecodeError:
                    pass    # not all of it yet
                else:
                    self.pending = self.pending[end:]
                    return message
            self.pending += self.sock.recv(1 << 20).decode()

    def rows(self, database: str, table: str, where: list | None = None) -> list[dict]:
        return self.transact(database, {"op": "select", "table": table,
                                        "where": where or [], "columns": ["_uuid"]})[0]["rows"]

    def close(self) -> None:
        self.sock.close()


class Central:
    """OVN's central daemons: the NB and SB databases and ovn-northd."""

    def __init__(self, sb_address: str):
        self.sb_remote = f"tcp:{sb_address}:6642"
        sb_listener = f"--remote=ptcp:6642:{sb_address}"
        self.pids: dict[str, int] = {}
        self.stop()   # what a crashed run left, by its pidfiles
        RUNDIR.mkdir(parents=True)
        for database, listen in (("nb", []), ("sb", [sb_listener])):
            emulation.run("ovsdb-tool", "create", str(RUNDIR / f"{database}.db"),
                          str(SCHEMAS / f"ovn-{database}.ovsschema"))
            self._daemon(database, "ovsdb-server", str(RUNDIR / f"{database}.db"),
                         f"--remote=punix:{self.socket(database)}", *listen)
        self._daemon("northd", "ovn-northd", f"--ovnnb-db=unix:{self.socket('nb')}",
                     f"--ovnsb-db=unix:{self.socket('sb')}")

    @staticmethod
    def socket(database: str) -> Path:
        return RUNDIR / f"{database}.sock"

    def _daemon(self, name: str, *command: str) -> None:
        emulation.run(*command, f"--pidfile={RUNDIR / name}.pid",
                      f"--unixctl={RUNDIR / name}.ctl", f"--log-file={RUNDIR / name}.log",
                      "--detach")
        self.pids[name] = int((RUNDIR / f"{name}.pid").read_text())

    @staticmethod
    def stop() -> None:
        for pidfile in RUNDIR.glob("*.pid"):
            emulation.terminate(int(pidfile.read_text()))
        emulation.run("rm", "-rf", str(RUNDIR))


def start_chassis(hypervisor, sb_remote: str) -> int:
    """The hypervisor joins OVN: its ovn-controller, which creates br-int.  With
    ovn-monitor-all, OVN's setting for when every chassis has every network, as here: in
    A/B runs it cost the SB server 0.8-0.9 ms a port against 1.6-2.3 without, and the
    rate was no lower."""
    hypervisor.vsctl("set", "open", ".", f"external_ids:system-id={hypervisor.name}",
                     f"external_ids:ovn-remote={sb_remote}", "external_ids:ovn-monitor-all=true",
                     "external_ids:ovn-encap-type=geneve",
                     f"external_ids:ovn-encap-ip={hypervisor.tunnel_ip}",
                     f"external_ids:ovn-bridge-datapath-type={hypervisor.datapath_type}")
    pidfile = hypervisor.rundir / "ovn-controller.pid"
    hypervisor.run("env", f"OVN_RUNDIR={hypervisor.rundir}", "ovn-controller",
                   f"unix:{hypervisor.rundir / 'db.sock'}", f"--pidfile={pidfile}",
                   f"--log-file={hypervisor.rundir / 'ovn-controller.log'}", "--detach")
    return int(pidfile.read_text())


def address(device: str, networks: int) -> tuple[str, str]:
    """A VM's MAC and IP from its device's number (bulk.place numbers them
    position * networks + network)."""
    number = int(device.removeprefix("vm"))
    network, position = number % networks, number // networks
    return f"fa:16:3e:00:{network:02x}:{position:02x}", f"10.{network}.0.{10 + position}"


def _add_port(table: str, name: str) -> dict:
    """The port ``p`` of the transaction, into the row of ``table`` called ``name``."""
    return {"op": "mutate", "table": table, "where": [["name", "==", name]],
            "mutations": [["ports", "insert", ["set", [["named-uuid", "p"]]]]]}


class OvnBuild(Plugger):
    """A build worker: the VM's logical switch port in one NB transaction, member of the
    project's default security group (of ``groups``), then the plug."""

    def __init__(self, hypervisor, nb_socket: Path, groups: tuple[str, ...]):
        super().__init__(hypervisor)
        self.nb = Rpc(nb_socket)
        self.groups = groups

    def boot(self, switch: tuple[str, str], device: str, mac: str, ip: str) -> None:
        switch_name, dhcp_uuid = switch
        self.nb.transact("OVN_Northbound",
                         {"op": "insert", "table": "Logical_Switch_Port", "uuid-name": "p",
                          "row": {"name": device, "addresses": f"{mac} {ip}",
                                  "port_security": f"{mac} {ip}",
                                  "dhcpv4_options": ["uuid", dhcp_uuid]}},
                         _add_port("Logical_Switch", switch_name),
                         *(_add_port("Port_Group", group) for group in self.groups))
        self.plug(device, device)

    def close(self) -> None:
        self.nb.close()
        super().close()


def switches(nb: Rpc, networks: int) -> list[tuple[str, str]]:
    """The tenant networks: a logical switch and its subnet's DHCP options each, as the
    bulk benchmark's networks and subnets (10.N.0.0/24)."""
    made = []
    for index in range(networks):
        cidr, gateway = f"10.{index}.0.0/24", f"10.{index}.0.1"
        switch, dhcp = nb.transact(
            "OVN_Northbound",
            {"op": "insert", "table": "Logical_Switch",
             "row": {"name": f"bulk{index}", "other_config": ["map", [["subnet", cidr]]]}},
            {"op": "insert", "table": "DHCP_Options",
             "row": {"cidr": cidr, "options": ["map", [
                 ["lease_time", "43200"], ["router", gateway], ["server_id", gateway],
                 ["server_mac", "fa:16:3e:ff:ff:ff"]]]}})
        made.append((f"bulk{index}", dhcp["uuid"][1]))
    return made


# The port groups of the project's default security group, as Neutron's OVN driver
# writes them: every port is in the group that drops what no rule allows, and in the
# default group, which allows all egress and the ingress from its own members (the
# address set northd keeps of the group's addresses).
SECURITY_GROUP = "pg_default"
PORT_GROUPS = ("neutron_pg_drop", SECURITY_GROUP)
ACLS = {"neutron_pg_drop": [("from-lport", 1001, "inport == @neutron_pg_drop && ip", "drop"),
                            ("to-lport", 1001, "outport == @neutron_pg_drop && ip", "drop")],
        SECURITY_GROUP: [
            ("from-lport", 1002, f"inport == @{SECURITY_GROUP} && ip4", "allow-related"),
            ("from-lport", 1002, f"inport == @{SECURITY_GROUP} && ip6", "allow-related"),
            ("to-lport", 1002,
             f"outport == @{SECURITY_GROUP} && ip4 && ip4.src == ${SECURITY_GROUP}_ip4",
             "allow-related"),
            ("to-lport", 1002,
             f"outport == @{SECURITY_GROUP} && ip6 && ip6.src == ${SECURITY_GROUP}_ip6",
             "allow-related")]}


def security_group(nb: Rpc) -> None:
    operations = []
    for group, acls in ACLS.items():
        names = [f"{group}{number}" for number in range(len(acls))]
        operations += [{"op": "insert", "table": "ACL", "uuid-name": name,
                        "row": dict(zip(("direction", "priority", "match", "action"), acl,
                                        strict=True))}
                       for name, acl in zip(names, acls, strict=True)]
        operations.append({"op": "insert", "table": "Port_Group", "row": {
            "name": group, "acls": ["set", [["named-uuid", name] for name in names]]}})
    nb.transact("OVN_Northbound", *operations)


def arp_targets(hypervisor) -> set[str]:
    """The addresses br-int answers ARP requests for (OVN's ls_in_arp_rsp)."""
    return {line.split("arp_tpa=", 1)[1].split(",")[0].split()[0]
            for line in hypervisor.ofctl("dump-flows", "br-int").splitlines()
            if "arp_tpa=" in line and "arp_op=1" in line}


def remote_addresses(placement: Placement, networks: int) -> dict[int, set[str]]:
    return {h: {address(device, networks)[1] for other, vms in placement.items() if other != h
                for _, device in vms}
            for h in placement}


def wait(predicate, timeout: float = 120, interval: float = 0.05) -> None:
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise TimeoutError(f"OVN: not done in {timeout} s")
        time.sleep(interval)


def measure_ovn(hypervisors: int, networks: int, per_network: int, builds: int,
                security_groups: bool = True) -> dict:
    """One run on a fresh cloud; without ``security_groups`` the ports are in no port
    group and OVN has no ACLs (what this controller cannot be asked for: its ports are
    always in their project's default group, unless port security is off)."""
    fabric = emulation.Cloud(hypervisors, prefix="ov", subnet=64).build()
    chassis: list[int] = []
    try:
        central = Central(fabric.controller_ip)
        for hypervisor in fabric.hypervisors:
            chassis.append(start_chassis(hypervisor, central.sb_remote))
        nb, sb = Rpc(central.socket("nb")), Rpc(central.socket("sb"))
        wait(lambda: len(sb.rows("OVN_Southbound", "Chassis")) == hypervisors, timeout=60)
        wait(lambda: all("br-int" in h.vsctl("list-br").split() for h in fabric.hypervisors),
             timeout=60)
        split = CpuSplit({
            "ovn-controller": chassis,
            "ovs-vswitchd": [h.daemon_pid("ovs-vswitchd") for h in fabric.hypervisors],
            "ovsdb-server": [h.daemon_pid("ovsdb-server") for h in fabric.hypervisors],
            "ovn-northd": [central.pids["northd"]],
            "NB and SB ovsdb-server": [central.pids["nb"], central.pids["sb"]],
            "benchmark client": [os.getpid()]})
        started = time.time()
        groups = PORT_GROUPS if security_groups else ()
        if security_groups:
            security_group(nb)
        made = switches(nb, networks)
        placement = place(made, per_network, hypervisors)
        work = {h: [(switch, device, *address(device, networks)) for switch, device in vms]
                for h, vms in placement.items()}
        in_parallel(fabric, work, builds, lambda h: OvnBuild(h, central.socket("nb"), groups),
                    lambda build, vm: build.boot(*vm))
        ports = networks * per_network
        wait(lambda: len(nb.rows("OVN_Northbound", "Logical_Switch_Port",
                                 [["up", "==", True]])) == ports)
        remote = remote_addresses(placement, networks)
        wait(lambda: all(remote[h] <= arp_targets(hypervisor)
                         for h, hypervisor in enumerate(fabric.hypervisors)))
        done = time.time()
        cpu = split.spent()
        flows = [len(h.ofctl("dump-flows", "br-int").splitlines()) - 1
                 for h in fabric.hypervisors]
        nb.close()
        sb.close()
        return {"ports": ports, "seconds": done - started, "cpu_by_role": cpu,
                "flows": sum(flows) / len(flows)}
    finally:
        for pid in chassis:
            emulation.terminate(pid)
        Central.stop()
        fabric.teardown()
