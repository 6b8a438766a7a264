"""Several emulated hypervisors in one Open vSwitch, with VMs as Mininet hosts.

Each chassis ``nI`` gets what a Neutron compute node has: an integration bridge
(``nI-int``), a tunnel bridge (``nI-tun``) and a physical-network bridge
(``nI-eth1``, physnet1), all netdev, fail_mode=secure, connected to the
controller.  Around them is what a real deployment's hardware would be, built
with the recipe of platform-recipes.md §4:

* underlay: a bridge ``nI-phy`` holding the chassis' VTEP address, each joined
  to one ``fabric`` bridge by a veth pair (``nI-ul`` / ``ul-nI``, where captures
  see the encapsulated frames; MTU 9000, so VXLAN never needs fragmenting);
  tunnel ports carry ``egress_pkt_mark`` and OVS has marked routes and static
  neighbours, because every VTEP address is local to the one kernel;
* VXLAN: one port per chassis pair and direction, with a UDP port per pair so
  that two chassis' ports towards the same remote are not the same tunnel;
* GRE has no UDP port, so each chassis pair also gets a link subnet of its own
  and the GRE ports use those addresses (the controller is told they are the
  chassis' ``tunnel_aliases``);
* physnet1: every ``nI-eth1`` is joined by a veth pair (``nI-ph`` /
  ``sw-nI``, where captures see the wire) to a standalone ``physw`` bridge.

A VM is a Mininet host whose ``eth0`` is the peer of a ``tap`` + 11 characters
of its port id device on br-int, plugged in the dead VLAN as Neutron's
interface driver does; the controller gives it its tag.

This directory is not a package (it would shadow Debian's ``mininet``): put it
on ``sys.path`` and ``import cloud``.
"""
from __future__ import annotations

import itertools
import subprocess
from dataclasses import dataclass, field

from mininet.link import Link
from mininet.node import Host, Node

PHYSNET = "physnet1"
DEAD_VLAN = 4095
UNDERLAY_MTU = 9000
MANAGED = ("datapath_type=netdev", "fail_mode=secure", "protocols=OpenFlow13",
           "other_config:disable-in-band=true")


def run(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip()}")
    return done.stdout


def vsctl(*args: str) -> str:
    return run("ovs-vsctl", "--timeout=20", *args)


def appctl(*args: str) -> str:
    return run("ovs-appctl", *args)


@dataclass
class Chassis:
    index: int
    name: str
    vtep: str                                   # primary underlay address
    links: dict[int, str] = field(default_factory=dict)  # peer index -> link address

    @property
    def int_bridge(self) -> str:
        return f"{self.name}-int"

    @property
    def tun_bridge(self) -> str:
        return f"{self.name}-tun"

    @property
    def phys_bridge(self) -> str:
        return f"{self.name}-eth1"

    @property
    def underlay(self) -> str:
        return f"{self.name}-phy"

    @property
    def mark(self) -> int:
        return 10 + self.index

    @property
    def bridges(self) -> tuple[str, ...]:
        return self.int_bridge, self.tun_bridge, self.phys_bridge

    def config_line(self) -> str:
        """This chassis as the controller's [neutron] chassis option expects it."""
        aliases = ",".join(self.links[peer] for peer in sorted(self.links))
        line = (f"{self.name} tunnel_ip={self.vtep} int_bridge={self.int_bridge} "
                f"tun_bridge={self.tun_bridge} bridge_mappings={PHYSNET}:{self.phys_bridge}")
        return line + (f" tunnel_aliases={aliases}" if aliases else "")


@dataclass
class Vm:
    host: Host
    port_id: str
    device: str
    chassis: Chassis
    mac: str
    ip: str


class Cloud:
    def __init__(self, size: int, of_port: int, prefix: str = "n", net: str = "172.31",
                 tunnel_types: tuple[str, ...] = ("vxlan", "gre")):
        if not 1 <= size <= 40:
            raise ValueError("between 1 and 40 chassis")
        self.of_port = of_port
        self.net = net
        self.tunnel_types = tunnel_types
        self.chassis = [Chassis(i, f"{prefix}{i}", f"{net}.0.{10 + i}") for i in range(size)]
        self.pair_number = {frozenset((a.index, b.index)): number for number, (a, b)
                            in enumerate(itertools.combinations(self.chassis, 2), start=1)}
        if "gre" in tunnel_types:
            for a, b in itertools.permutations(self.chassis, 2):
                number = self.pair_number[frozenset((a.index, b.index))]
                a.links[b.index] = f"{net}.{number}.{10 + a.index}"
        self.physw = f"{prefix}-physw"
        self.fabric = f"{prefix}-fabric"
        self.vms: dict[str, Vm] = {}
        self._root: Node | None = None

    def config_lines(self) -> list[str]:
        return [chassis.config_line() for chassis in self.chassis]

    # ------------------------------------------------------------------ build

    def build(self) -> "Cloud":
        self.teardown()
        for bridge in (self.fabric, self.physw):
            vsctl("add-br", bridge, "--", "set", "bridge", bridge, "datapath_type=netdev",
                  "fail_mode=standalone")
        for chassis in self.chassis:
            self._build_underlay(chassis)
            self._build_bridges(chassis)
        for a, b in itertools.permutations(self.chassis, 2):
            appctl("tnl/neigh/set", a.underlay, b.vtep, self._mac(b.underlay))
            if b.index in a.links:
                appctl("tnl/neigh/set", a.underlay, b.links[a.index], self._mac(b.underlay))
        for chassis in self.chassis:  # last, so the controller sees complete bridges
            for bridge in chassis.bridges:
                vsctl("set-controller", bridge, f"tcp:127.0.0.1:{self.of_port}")
        return self

    def _build_underlay(self, chassis: Chassis) -> None:
        uplink, fabric_port = f"{chassis.name}-ul", f"ul-{chassis.name}"
        _veth(uplink, fabric_port, mtu=UNDERLAY_MTU)
        vsctl("add-br", chassis.underlay, "--", "set", "bridge", chassis.underlay,
              "datapath_type=netdev", "fail_mode=standalone",
              "--", "add-port", chassis.underlay, uplink,
              "--", "add-port", self.fabric, fabric_port)
        for address in (chassis.vtep, *chassis.links.values()):
            run("ip", "addr", "add", f"{address}/24", "dev", chassis.underlay)
        run("ip", "link", "set", chassis.underlay, "up")

    def _build_bridges(self, chassis: Chassis) -> None:
        name = chassis.name
        args: list[str] = []
        for bridge in chassis.bridges:
            args += ["--", "add-br", bridge, "--", "set", "bridge", bridge, *MANAGED]
        args += _patch(chassis.int_bridge, f"{name}-patch-tun", f"{name}-patch-int")
        args += _patch(chassis.tun_bridge, f"{name}-patch-int", f"{name}-patch-tun")
        args += _patch(chassis.int_bridge, f"{name}-int-eth1", f"{name}-phy-eth1")
        args += _patch(chassis.phys_bridge, f"{name}-phy-eth1", f"{name}-int-eth1")
        for remote in self.chassis:
            if remote is not chassis:
                args += self._tunnel_ports(chassis, remote)
        _veth(f"{name}-ph", f"sw-{name}")
        args += ["--", "add-port", chassis.phys_bridge, f"{name}-ph",
                 "--", "add-port", self.physw, f"sw-{name}"]
        vsctl(*args[1:])

    def _tunnel_ports(self, chassis: Chassis, remote: Chassis) -> list[str]:
        args = []
        pair = self.pair_number[frozenset((chassis.index, remote.index))]
        for kind in self.tunnel_types:
            remote_ip = remote.vtep if kind == "vxlan" else remote.links[chassis.index]
            port = f"{chassis.name}-{kind[:2]}-{remote.name}"
            options = [f"options:remote_ip={remote_ip}", "options:key=flow",
                       f"options:egress_pkt_mark={chassis.mark}"]
            if kind == "vxlan":
                options.append(f"options:dst_port={4800 + pair}")
            args += ["--", "add-port", chassis.tun_bridge, port, "--", "set", "interface",
                     port, f"type={kind}", *options]
            appctl("ovs/route/add", f"{remote_ip}/32", chassis.underlay,
                   f"pkt_mark={chassis.mark}")
        return args

    @staticmethod
    def _mac(device: str) -> str:
        with open(f"/sys/class/net/{device}/address") as f:
            return f.read().strip()

    # -------------------------------------------------------------------- VMs

    def boot(self, port: dict, chassis: Chassis, prefix_len: int = 24,
             gateway: str | None = None) -> Vm:
        """A Mininet host for a Neutron port, plugged into the chassis' br-int."""
        if self._root is None:
            self._root = Node("root", inNamespace=False)
        port_id, mac = port["id"], port["mac_address"]
        ip = port["fixed_ips"][0]["ip_address"]
        device = "tap" + port_id[:11]
        host = Host("vm" + port_id[:8])
        host.cmd("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
                 "net.ipv6.conf.default.disable_ipv6=1")
        eth0 = Link(host, self._root, intfName1="eth0", intfName2=device).intf1
        eth0.setMAC(mac)
        eth0.setIP(ip, prefix_len)  # through Mininet, so that its CLI knows the address
        if gateway:
            host.cmd(f"ip route add default via {gateway}")
        # A veth leaves TCP/UDP checksums to "hardware"; the userspace datapath reads the
        # frame before any is computed and would deliver it with a bad one.
        host.cmd("ethtool -K eth0 tx off")
        # The device's own kernel stack stays quiet (no IPv6 ND/MLD), so that what a VM
        # receives is what the switch delivered to it.
        run("sysctl", "-qw", f"net.ipv6.conf.{device}.disable_ipv6=1")
        run("ip", "link", "set", device, "up")
        vm = self.vms[port_id] = Vm(host, port_id, device, chassis, mac, ip)
        self.plug(vm)
        return vm

    def plug(self, vm: Vm) -> None:
        """Add the VM's device to br-int in the dead VLAN, as Neutron's interface driver."""
        vsctl("add-port", vm.chassis.int_bridge, vm.device, f"tag={DEAD_VLAN}", "--",
              "set", "interface", vm.device, f"external_ids:iface-id={vm.port_id}",
              f"external_ids:attached-mac={vm.mac}")

    def unplug(self, vm: Vm) -> None:
        vsctl("--if-exists", "del-port", vm.chassis.int_bridge, vm.device)

    def destroy(self, vm: Vm) -> None:
        self.unplug(vm)
        vm.host.terminate()
        subprocess.run(["ip", "link", "del", vm.device], capture_output=True)
        self.vms.pop(vm.port_id, None)

    # --------------------------------------------------------------- teardown

    def teardown(self) -> None:
        """Remove everything a (possibly crashed) earlier run of this cloud left."""
        for vm in list(self.vms.values()):
            self.destroy(vm)
        if self._root is not None:
            self._root.terminate()
            self._root = None
        bridges = [self.fabric, self.physw]
        for chassis in self.chassis:
            bridges += [*chassis.bridges, chassis.underlay]
            for veth in (f"{chassis.name}-ph", f"{chassis.name}-ul"):
                subprocess.run(["ip", "link", "del", veth], capture_output=True)
            for address in [*[c.vtep for c in self.chassis],
                            *[a for c in self.chassis for a in c.links.values()]]:
                subprocess.run(["ovs-appctl", "ovs/route/del", f"{address}/32",
                                f"pkt_mark={chassis.mark}"], capture_output=True)
        for bridge in bridges:
            subprocess.run(["ovs-vsctl", "--if-exists", "del-br", bridge], capture_output=True)
        subprocess.run(["ovs-appctl", "tnl/neigh/flush"], capture_output=True)


def _veth(name: str, peer: str, mtu: int = 1500) -> None:
    """A wire between two bridges; its kernel ends stay quiet (no IPv6)."""
    run("ip", "link", "add", name, "mtu", str(mtu), "type", "veth", "peer", "name", peer,
        "mtu", str(mtu))
    for device in (name, peer):
        run("sysctl", "-qw", f"net.ipv6.conf.{device}.disable_ipv6=1")
        run("ip", "link", "set", device, "up")


def _patch(bridge: str, name: str, peer: str) -> list[str]:
    return ["--", "add-port", bridge, name, "--", "set", "interface", name, "type=patch",
            f"options:peer={peer}"]
