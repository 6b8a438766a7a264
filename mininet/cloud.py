"""Emulated hypervisors, each as real as this machine allows, and VMs as Mininet hosts.

A hypervisor ``hvI`` is its own network namespace running its own ovsdb-server and
ovs-vswitchd (userspace datapath), with what a real compute node's operator provides:

* a management NIC (``mgmt0``) on a management network, a Linux bridge in the root
  namespace that also holds the controller's address;
* an underlay NIC (``eth1``) in a bridge ``br-phy`` whose internal port holds the
  hypervisor's tunnel endpoint address (the userspace datapath sends tunnelled frames
  through an OVS bridge); all underlay NICs meet on a Linux bridge, the fabric;
* a physnet1 NIC (``eth2``) in the operator's bridge ``br-eth1``; all of them meet on a
  Linux bridge, the physical switch;
* in a cloud with an external network, an external NIC (``eth3``) in the operator's
  bridge ``br-ex`` (the ``public`` physical network); all of them meet on a Linux bridge,
  the external switch, with the upstream router.

It joins the cloud as any hypervisor would, with two commands: ``external_ids``
(system-id, tunnel IP, bridge mappings, and ``neutron-agent-mode=dvr_snat`` on a gateway
node) and ``set-manager``.  The controller builds br-int, br-tun, the patch ports and the
tunnel ports.  The root-namespace ends of the wires are where captures see the wire:
``ul-hvI`` (underlay), ``sw-hvI`` (physnet1), ``ex-hvI`` (external network).

The external network's far side (``Cloud.upstream``) is two Mininet hosts: the upstream
router, the external subnet's gateway (``eth0`` on the external switch, root end
``{prefix}-upx``), and behind it an internet host on a network of its own.

A VM is a Mininet host whose ``eth0`` is the peer of a device in its hypervisor's
namespace, plugged into br-int with ``external_ids:iface-id`` (the Neutron port id) as
Nova and libvirt plug it, in the dead VLAN until the controller tags it.

This directory is not a package (it would shadow Debian's ``mininet``): put it and the
project's root on ``sys.path`` and ``import cloud``.
"""
from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from mininet.link import Intf
from mininet.node import Host

from ryu_app.pipeline.tables import DEAD_VLAN
from topology.naming import vm_device_name

PHYSNET = "physnet1"
EXTERNAL_PHYSNET = "public"     # the provider network br-ex is mapped to
EXTERNAL_BRIDGE = "br-ex"
EXTERNAL_CIDR, EXTERNAL_GATEWAY = "203.0.113.0/24", "203.0.113.1"   # upstream router: eth0
INTERNET_CIDR, INTERNET_GATEWAY = "198.51.100.0/24", "198.51.100.1"  # upstream router: eth1
INTERNET_HOST = "198.51.100.10"
GATEWAY_AGENT_MODE = "dvr_snat"
UNDERLAY_MTU = 9000     # VXLAN inside never needs fragmenting
SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
RUN_ROOT = Path("/tmp/neutron-ryu-hypervisors")
HERE = Path(__file__).resolve().parent
DHCLIENT = ("dhclient", "-cf", str(HERE / "dhclient.conf"), "-sf", str(HERE / "dhclient-script"))


def run(*command: str, check: bool = True) -> str:
    done = subprocess.run(command, capture_output=True, text=True)
    if check and done.returncode:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip()}")
    return done.stdout


def _quiet(device: str, namespace: str | None = None) -> None:
    """No IPv6 on a wire's kernel end: its ND/MLD frames would count as traffic."""
    prefix = ("ip", "netns", "exec", namespace) if namespace else ()
    run(*prefix, "sysctl", "-qw", f"net.ipv6.conf.{device}.disable_ipv6=1")


def _running(pid: int) -> bool:
    """A process that has not exited.  A detached daemon's parent is whatever adopts
    orphans here, which may never reap it: an exited one lingers as a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def terminate(pid: int) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 2 s."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(200):
        if not _running(pid):
            return
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)


@dataclass
class Tls:
    """PEM files a hypervisor presents to the controller."""

    private_key: str
    certificate: str
    ca_certificate: str


@dataclass(eq=False)   # one object per hypervisor: hashable by identity
class Hypervisor:
    index: int
    name: str
    tunnel_ip: str
    mgmt_ip: str
    datapath_type: str = "netdev"
    external: bool = False          # eth3 in br-ex, on the external network
    agent_mode: str | None = None   # announced at onboarding (dvr_snat), else none
    rundir: Path = field(init=False)

    def __post_init__(self) -> None:
        self.rundir = RUN_ROOT / self.name

    # -------------------------------------------------------------- commands

    def run(self, *command: str, check: bool = True) -> str:
        """A command inside the hypervisor, talking to its own Open vSwitch."""
        env = [f"OVS_{kind}DIR={self.rundir}" for kind in ("RUN", "DB", "LOG")]
        return run("ip", "netns", "exec", self.name, "env", *env, *command, check=check)

    def vsctl(self, *args: str, check: bool = True) -> str:
        return self.run("ovs-vsctl", "--timeout=20", *args, check=check)

    def ofctl(self, *args: str) -> str:
        return self.run("ovs-ofctl", "-O", "OpenFlow13", *args)

    def appctl(self, *args: str) -> str:
        return self.run("ovs-appctl", "-t", "ovs-vswitchd", *args)

    # ------------------------------------------------------------ lifecycle

    def start(self, mgmt_bridge: str, fabric: str, physw: str,
              ext_switch: str | None = None) -> None:
        if self.external and not ext_switch:
            raise ValueError(f"{self.name}: an external NIC needs the external switch")
        run("ip", "netns", "add", self.name)
        self.run("ip", "link", "set", "lo", "up")
        wires = [(f"m-{self.name}", "mgmt0", mgmt_bridge, 1500),
                 (f"ul-{self.name}", "eth1", fabric, UNDERLAY_MTU),
                 (f"sw-{self.name}", "eth2", physw, 1500)]
        if self.external:
            wires.append((f"ex-{self.name}", "eth3", ext_switch, 1500))
        for root_end, inner, bridge, mtu in wires:
            run("ip", "link", "add", root_end, "mtu", str(mtu), "type", "veth", "peer", "name",
                inner, "netns", self.name, "mtu", str(mtu))
            _quiet(root_end)
            _quiet(inner, self.name)
            run("ip", "link", "set", root_end, "master", bridge, "up")
            self.run("ip", "link", "set", inner, "up")
        self.run("ip", "addr", "add", f"{self.mgmt_ip}/24", "dev", "mgmt0")
        self.rundir.mkdir(parents=True, exist_ok=True)
        run("ovsdb-tool", "create", str(self.rundir / "conf.db"), SCHEMA)
        self.start_ovsdb()
        self.vsctl("--no-wait", "init")
        self.start_vswitchd()
        # The operator's bridges: the underlay (holding the tunnel endpoint), physnet1's and
        # the external network's (standalone, no controller: it switches as NORMAL).
        external = ["--", "add-br", EXTERNAL_BRIDGE, "--", "set", "bridge", EXTERNAL_BRIDGE,
                    f"datapath_type={self.datapath_type}",
                    "--", "add-port", EXTERNAL_BRIDGE, "eth3"] if self.external else []
        self.vsctl("add-br", "br-phy", "--", "set", "bridge", "br-phy",
                   f"datapath_type={self.datapath_type}", "--", "add-port", "br-phy", "eth1",
                   "--", "set", "interface", "br-phy", f"mtu_request={UNDERLAY_MTU}",
                   "--", "add-br", "br-eth1", "--", "set", "bridge", "br-eth1",
                   f"datapath_type={self.datapath_type}", "--", "add-port", "br-eth1", "eth2",
                   *external)
        self.run("ip", "addr", "add", f"{self.tunnel_ip}/24", "dev", "br-phy")
        self.run("ip", "link", "set", "br-phy", "up")
        _quiet("br-phy", self.name)
        if self.external:
            _quiet(EXTERNAL_BRIDGE, self.name)   # down and addressless, until a test says

    def onboard(self, controller_ip: str, ovsdb_port: int, tls: Tls | None = None) -> None:
        """The two commands that make a hypervisor part of the cloud."""
        mappings = f"{PHYSNET}:br-eth1" + (
            f",{EXTERNAL_PHYSNET}:{EXTERNAL_BRIDGE}" if self.external else "")
        mode = [f"external_ids:neutron-agent-mode={self.agent_mode}"] if self.agent_mode else []
        self.vsctl("set", "open", ".", f"external_ids:system-id={self.name}",
                   f"external_ids:neutron-tunnel-ip={self.tunnel_ip}",
                   f"external_ids:neutron-bridge-mappings={mappings}",
                   f"external_ids:neutron-datapath-type={self.datapath_type}", *mode)
        if tls is not None:
            self.vsctl("set-ssl", tls.private_key, tls.certificate, tls.ca_certificate)
        scheme = "ssl" if tls else "tcp"
        self.vsctl("set-manager", f"{scheme}:{controller_ip}:{ovsdb_port}")

    def start_ovsdb(self) -> None:
        self.run("ovsdb-server", str(self.rundir / "conf.db"),
                 f"--remote=punix:{self.rundir / 'db.sock'}",
                 "--remote=db:Open_vSwitch,Open_vSwitch,manager_options",
                 "--private-key=db:Open_vSwitch,SSL,private_key",
                 "--certificate=db:Open_vSwitch,SSL,certificate",
                 "--ca-cert=db:Open_vSwitch,SSL,ca_cert",
                 "--pidfile", "--log-file", "--detach")

    def start_vswitchd(self) -> None:
        self.run("ovs-vswitchd", "--pidfile", "--log-file", "--detach")

    def daemon_pid(self, daemon: str) -> int | None:
        """The pid ovs-vswitchd or ovsdb-server wrote to its pidfile, if any."""
        try:
            return int((self.rundir / f"{daemon}.pid").read_text())
        except (OSError, ValueError):
            return None

    def stop_daemon(self, daemon: str) -> None:
        """Stop ovs-vswitchd or ovsdb-server as a crash or a package upgrade would."""
        pid = self.daemon_pid(daemon)
        if pid is not None:
            terminate(pid)

    def management_link(self, up: bool) -> None:
        """Cut the hypervisor off the management network (or reconnect it), as a failed
        switch port would; its tunnels and VMs keep running."""
        run("ip", "link", "set", f"m-{self.name}", "up" if up else "down")

    def restart_vswitchd(self) -> None:
        self.stop_daemon("ovs-vswitchd")
        self.start_vswitchd()

    def restart_ovsdb(self) -> None:
        self.stop_daemon("ovsdb-server")
        self.start_ovsdb()

    def stop(self) -> None:
        for daemon in ("ovs-vswitchd", "ovsdb-server"):
            self.stop_daemon(daemon)
        run("ip", "netns", "del", self.name, check=False)
        # ex- too when this run has none: a crashed run with an external network left it
        for root_end in (f"m-{self.name}", f"ul-{self.name}", f"sw-{self.name}",
                         f"ex-{self.name}"):
            run("ip", "link", "del", root_end, check=False)
        run("rm", "-rf", str(self.rundir), check=False)


@dataclass
class Vm:
    host: Host
    port_id: str
    device: str
    hypervisor: Hypervisor
    mac: str
    ip: str
    iface_id: bool = True

    @property
    def chassis(self) -> Hypervisor:
        return self.hypervisor

    # ------------------------------------------------------------------ DHCP

    @property
    def _dhcp_files(self) -> Path:
        path = RUN_ROOT / "vms" / self.port_id[:13]
        path.mkdir(parents=True, exist_ok=True)
        return path

    def dhcp(self, lease_file: str | None = None) -> dict | None:
        """Boot-time DHCP, as a cloud image does it: ``dhclient`` on eth0 until it holds
        a lease (it then keeps it, renewing in the background) or gives up (about 8 s);
        the lease it applied, or None.  ``lease_file``: what an earlier boot left in
        dhclient's lease file (the client then first asks for that address)."""
        self.start_dhcp(lease_file).wait()
        return self.lease()

    def start_dhcp(self, lease_file: str | None = None) -> subprocess.Popen:
        """``dhclient`` started on eth0 (see ``dhcp``); it exits once it holds a lease
        (leaving a daemon that renews it) or has given up."""
        files = self._dhcp_files
        (files / "state").unlink(missing_ok=True)
        (files / "leases").write_text(lease_file or "")
        return self.host.popen([*DHCLIENT, "-1", "-lf", str(files / "leases"),
                                "-pf", str(files / "pid"), "-e",
                                f"LEASE_STATE={files / 'state'}", "eth0"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def lease(self) -> dict | None:
        """The variables of the last lease dhclient applied (new_ip_address, ...), with
        ``reasons``: every reason its script was called for, in order."""
        path = self._dhcp_files / "state"
        text = path.read_text() if path.exists() else ""
        calls = [dict(line.split("=", 1) for line in record.splitlines())
                 for record in text.split("\n\n")[:-1]]   # complete records only
        applied = [call for call in calls if call["reason"] in ("BOUND", "RENEW", "REBIND",
                                                                 "REBOOT")]
        if not applied:
            return None
        return {**applied[-1], "reasons": [call["reason"] for call in calls]}

    def stop_dhcp(self) -> None:
        """Stop dhclient, keeping its lease file (as a VM shut down would)."""
        pid = self._dhcp_files / "pid"
        if pid.exists():
            self.host.cmd(f"kill {pid.read_text().strip()} 2>/dev/null")
            pid.unlink()


@dataclass
class Endpoint:
    """A Mininet host and its address, as tests/e2e/dataplane.py's ``pings`` and
    ``fetches`` take a VM."""

    host: Host
    ip: str


@dataclass
class Upstream:
    """The external network's far side: the upstream router (``ip``: the external
    subnet's gateway, on its eth0; eth1 holds the internet network's gateway) and the
    internet host behind it (default route via the router)."""

    router: Endpoint
    internet: Endpoint

    def terminate(self) -> None:
        for endpoint in (self.router, self.internet):
            endpoint.host.terminate()


def _no_move(*_args, **_kwargs) -> bool:
    """Mininet should know an interface that is already in its host's namespace."""
    return True


class Cloud:
    """``size`` hypervisors named ``{prefix}0``.., on management network 10.254.N.0/24
    (the controller at .1), underlay 172.16.N.0/24, N = ``subnet``.

    With ``external``, every hypervisor also has an external NIC (eth3 in br-ex) on the
    external switch ``{prefix}-ext``, where the upstream router ``{prefix}up`` is the
    gateway of ``external_cidr`` (at ``external_gateway``) and routes to the internet host
    ``{prefix}inet`` (``upstream``).  Hypervisors whose index is in ``gateways`` announce
    themselves as gateway nodes (``neutron-agent-mode=dvr_snat``).  All of these addresses
    live in the hosts' own namespaces: clouds of different prefixes never clash."""

    def __init__(self, size: int, prefix: str = "hv", subnet: int = 9,
                 external: bool = False, gateways: tuple[int, ...] = ()):
        if not 1 <= size <= 40:
            raise ValueError("between 1 and 40 hypervisors")
        if not set(gateways) <= set(range(size)):
            raise ValueError(f"gateways {gateways}: not all hypervisors of {size}")
        self.prefix = prefix
        self.controller_ip = f"10.254.{subnet}.1"
        self.hypervisors = [Hypervisor(i, f"{prefix}{i}", f"172.16.{subnet}.{10 + i}",
                                       f"10.254.{subnet}.{10 + i}", external=external,
                                       agent_mode=GATEWAY_AGENT_MODE if i in gateways else None)
                            for i in range(size)]
        self.mgmt, self.fabric, self.physw = (f"{prefix}-mgmt", f"{prefix}-fabric",
                                              f"{prefix}-physw")
        self.external = external
        self.ext_switch, self.uplink = f"{prefix}-ext", f"{prefix}-upx"
        self.external_cidr, self.external_gateway = EXTERNAL_CIDR, EXTERNAL_GATEWAY
        self.upstream: Upstream | None = None   # built with the external network
        self.vms: dict[str, Vm] = {}
        self._devices = itertools.count()

    @property
    def chassis(self) -> list[Hypervisor]:
        return self.hypervisors

    def build(self) -> "Cloud":
        """The wires and the hypervisors, running but not yet onboarded."""
        self.teardown()
        for bridge in (self.mgmt, self.fabric, self.physw,
                       *((self.ext_switch,) if self.external else ())):
            run("ip", "link", "add", bridge, "type", "bridge")
            _quiet(bridge)
            run("ip", "link", "set", bridge, "up")
        run("ip", "link", "set", self.fabric, "mtu", str(UNDERLAY_MTU))
        run("ip", "addr", "add", f"{self.controller_ip}/24", "dev", self.mgmt)
        for hypervisor in self.hypervisors:
            hypervisor.start(self.mgmt, self.fabric, self.physw,
                             self.ext_switch if self.external else None)
        if self.external:
            self.upstream = self._build_upstream()
        return self

    def _build_upstream(self) -> Upstream:
        """The upstream router on the external switch and the internet host behind it."""
        router, internet = Host(f"{self.prefix}up"), Host(f"{self.prefix}inet")
        for host in (router, internet):
            host.cmd("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
                     "net.ipv6.conf.default.disable_ipv6=1")
        run("ip", "link", "add", self.uplink, "type", "veth", "peer", "name", "eth0",
            "netns", str(router.pid))
        _quiet(self.uplink)
        run("ip", "link", "set", self.uplink, "master", self.ext_switch, "up")
        run("ip", "link", "add", "eth1", "netns", str(router.pid), "type", "veth",
            "peer", "name", "eth0", "netns", str(internet.pid))
        external_len = self.external_cidr.split("/")[1]
        internet_len = INTERNET_CIDR.split("/")[1]
        for host, device, address in ((router, "eth0", f"{self.external_gateway}/{external_len}"),
                                      (router, "eth1", f"{INTERNET_GATEWAY}/{internet_len}"),
                                      (internet, "eth0", f"{INTERNET_HOST}/{internet_len}")):
            Intf(device, node=host, moveIntfFn=_no_move).setIP(address)
            host.cmd(f"ethtool -K {device} tx off")   # real checksums (see boot)
        # A router: forwarding, and no reverse-path filter (floating IPs, SNAT, asymmetry).
        router.cmd("sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 "
                   "net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0 "
                   "net.ipv4.conf.eth1.rp_filter=0")
        internet.cmd(f"ip route add default via {INTERNET_GATEWAY}")
        return Upstream(Endpoint(router, self.external_gateway),
                        Endpoint(internet, INTERNET_HOST))

    def onboard(self, ovsdb_port: int, tls: Tls | None = None) -> None:
        for hypervisor in self.hypervisors:
            hypervisor.onboard(self.controller_ip, ovsdb_port, tls)

    # -------------------------------------------------------------------- VMs

    def boot(self, port: dict, hypervisor: Hypervisor, prefix_len: int = 24,
             gateway: str | None = None, iface_id: bool = True, dhcp: bool = False) -> Vm:
        """A Mininet host for a Neutron port, plugged into its hypervisor's br-int: with
        ``iface_id`` by external_ids (device ``vnetN``, as libvirt names them), without
        by Neutron's device name rule (``tap`` + 11 characters of the port id).  Its
        address is set by hand, unless ``dhcp`` (then ``Vm.dhcp`` asks for it)."""
        port_id, mac = port["id"], port["mac_address"]
        ip = port["fixed_ips"][0]["ip_address"]
        device = f"vnet{next(self._devices)}" if iface_id else vm_device_name(port_id)
        host = Host("vm" + port_id[:8])
        host.cmd("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
                 "net.ipv6.conf.default.disable_ipv6=1")
        run("ip", "link", "add", device, "netns", hypervisor.name, "type", "veth",
            "peer", "name", "eth0", "netns", str(host.pid))
        # Mininet (and its CLI) should know the address; the device is already in place.
        eth0 = Intf("eth0", node=host, moveIntfFn=lambda *_args, **_kwargs: True)
        eth0.setMAC(mac)
        if not dhcp:
            eth0.setIP(ip, prefix_len)
        if gateway:
            host.cmd(f"ip route add default via {gateway}")
        # A veth leaves TCP/UDP checksums to "hardware"; the userspace datapath reads the
        # frame before any is computed and would deliver it with a bad one.
        host.cmd("ethtool -K eth0 tx off")
        _quiet(device, hypervisor.name)
        hypervisor.run("ip", "link", "set", device, "up")
        vm = self.vms[port_id] = Vm(host, port_id, device, hypervisor, mac, ip, iface_id)
        self.plug(vm)
        return vm

    def plug(self, vm: Vm) -> None:
        """Add the VM's device to br-int in the dead VLAN, as Nova's VIF driver does."""
        extra = ["--", "set", "interface", vm.device, f"external_ids:iface-id={vm.port_id}",
                 f"external_ids:attached-mac={vm.mac}", "external_ids:iface-status=active"
                 ] if vm.iface_id else []
        vm.hypervisor.vsctl("add-port", "br-int", vm.device, f"tag={DEAD_VLAN}", *extra)

    def unplug(self, vm: Vm) -> None:
        vm.hypervisor.vsctl("--if-exists", "del-port", "br-int", vm.device)

    def destroy(self, vm: Vm) -> None:
        vm.stop_dhcp()
        self.unplug(vm)
        vm.host.terminate()
        vm.hypervisor.run("ip", "link", "del", vm.device, check=False)
        self.vms.pop(vm.port_id, None)

    # --------------------------------------------------------------- teardown

    def teardown(self) -> None:
        """Remove everything a (possibly crashed) earlier run of this cloud left."""
        for vm in list(self.vms.values()):
            self.destroy(vm)
        if self.upstream is not None:
            self.upstream.terminate()
            self.upstream = None
        for hypervisor in self.hypervisors:
            hypervisor.stop()
        # The external network's wires whether or not this cloud has one: a crashed run of
        # the same prefix with one left them (its hosts' shells ended with their parent).
        run("ip", "link", "del", self.uplink, check=False)
        for bridge in (self.mgmt, self.fabric, self.physw, self.ext_switch):
            run("ip", "link", "del", bridge, check=False)
