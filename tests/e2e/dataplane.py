"""Helpers for end-to-end tests: a tenant's networks and VMs, and reading real OVS."""
from __future__ import annotations

import re
import subprocess
import sys
import time
from typing import Any, Callable, Sequence

from ryu_app.pipeline.tables import DEAD_VLAN
from tests.harness import Api


def sh(command: str) -> str:
    return subprocess.run(command, shell=True, check=True, capture_output=True,
                          text=True).stdout


def flows(hypervisor, bridge: str, table: int | None = None) -> list[str]:
    """`ovs-ofctl dump-flows` lines of a hypervisor's bridge, without the reply header."""
    spec = [f"table={table}"] if table is not None else []
    out = hypervisor.ofctl("dump-flows", bridge, *spec)
    return [line.strip() for line in out.splitlines() if "cookie=" in line]


def n_packets(flow_line: str) -> int:
    return int(re.search(r"n_packets=(\d+)", flow_line).group(1))


def ofport(hypervisor, interface: str) -> int:
    return int(hypervisor.vsctl("get", "interface", interface, "ofport"))


def settle_counters(*hypervisors) -> None:
    """Flow and tunnel-port counters of the userspace datapath move when its revalidators
    push them (about every 500 ms): wait for a full round before reading them."""
    for hypervisor in hypervisors:
        hypervisor.appctl("revalidator/wait")


def tx_packets(hypervisor, bridge: str, port: str) -> int:
    """Frames the switch sent out of a port, read live (OVSDB statistics lag by 5 s); for
    a tunnel port, call settle_counters() first."""
    out = hypervisor.ofctl("dump-ports", bridge, port)
    return int(re.search(r"tx pkts=(\d+)", out).group(1))


def tunnel_ports(hypervisor) -> list[str]:
    """The VXLAN and GRE ports the hypervisor's br-tun has now."""
    return [name for name in hypervisor.vsctl("list-ports", "br-tun").split()
            if name.startswith(("vxlan-", "gre-"))]


def _tcpdump(popen: Callable[..., subprocess.Popen], interface: str,
             arguments: Sequence[str]) -> subprocess.Popen:
    """tcpdump on an interface, returned once it listens (no packet is missed)."""
    dump = popen(["tcpdump", "-l", "-n", "-i", interface, *arguments],
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while "listening on" not in (line := dump.stderr.readline()):
        assert line, f"tcpdump on {interface} did not start"
    return dump


def _heard(dumps: dict[str, subprocess.Popen]) -> dict[str, str]:
    for dump in dumps.values():
        dump.terminate()
    return {name: dump.communicate()[0] for name, dump in dumps.items()}


def wires_heard(wires: dict[str, Sequence[str]], action: Callable[[], Any],
                seconds: float = 0.5) -> dict[str, str]:
    """What tcpdump on each wire of the root namespace (its name -> tcpdump's options and
    expression) sees while ``action`` runs and for ``seconds`` after: its output."""
    dumps: dict[str, subprocess.Popen] = {}
    try:
        for name, arguments in wires.items():
            dumps[name] = _tcpdump(subprocess.Popen, name, arguments)
        action()
        time.sleep(seconds)
    finally:
        heard = _heard(dumps)
    return heard


def heard_in(vm, expression: str, action: Callable[[], Any],
             options: Sequence[str] = ()) -> list[str]:
    """What tcpdump in the VM sees on its interface, matching ``expression``, while
    ``action`` runs: one line per packet (more with ``options`` such as -v)."""
    dumps = {"vm": _tcpdump(vm.host.popen, str(vm.host.defaultIntf()),
                            [*options, *expression.split()])}
    try:
        action()
        time.sleep(0.5)
    finally:
        heard = _heard(dumps)
    return [line for line in heard["vm"].splitlines() if line.strip()]


RAW_SPRAY = """
import socket, sys, time
frame = bytes.fromhex(sys.argv[1])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
end, sent = time.time() + float(sys.argv[2]), 0
while time.time() < end:
    s.send(frame)
    sent += 1
    time.sleep(float(sys.argv[3]))
print(sent)
"""


def spray(vm, frame: bytes, seconds: float, interval: float) -> subprocess.Popen:
    """Raw frames sent from the VM's eth0 for a while (an attacker's tool); it prints how
    many it sent."""
    return vm.host.popen([sys.executable, "-c", RAW_SPRAY, frame.hex(), str(seconds),
                          str(interval)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True)


def ip_from(vm, source: str, action: Callable[[], Any]) -> int:
    """IPv4 packets from ``source`` that reach ``vm`` while ``action`` runs: the
    broadcasts of other VMs, which a port's counters also count, do not."""
    return len(heard_in(vm, f"ip and src host {source}", action))


def tag(vm) -> int | None:
    value = vm.hypervisor.vsctl("get", "port", vm.device, "tag").strip()
    return None if value == "[]" else int(value)


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value or time.time() > deadline:
            assert value, f"timed out waiting for {what or predicate}"
            return value
        time.sleep(0.05)


def pings(vm, address: str, attempts: int = 3) -> bool:
    """True once one ping gets an answer; a few tries cover flows still on their way."""
    for _ in range(attempts):
        if " 0% packet loss" in vm.host.cmd(f"ping -c1 -W1 {address}"):
            return True
    return False


def silent(vm, address: str) -> bool:
    """True when two pings get no answer at all."""
    return "100% packet loss" in vm.host.cmd(f"ping -c2 -i0.2 -W1 {address}")


TCP_PAYLOAD = 100_000
SERVE_ONCE = ("import socket, sys; s = socket.socket(); "
              "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
              "s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(); c, _ = s.accept(); "
              f"c.sendall(b'x' * {TCP_PAYLOAD}); c.close()")


def fetches(client, server, port: int = 8080, address: str | None = None) -> bool:
    """True when ``client`` receives 100 kB over one TCP connection from ``server``
    (reached at ``address``: its own by default, or e.g. its floating IP)."""
    web = server.host.popen([sys.executable, "-c", SERVE_ONCE, server.ip, str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    address = address or server.ip
    try:
        for _ in range(20):
            received = client.host.cmd(f"timeout 3 bash -c 'cat < /dev/tcp/{address}/{port}'"
                                       " 2>/dev/null | wc -c")
            if received.strip() == str(TCP_PAYLOAD):
                return True
            time.sleep(0.2)  # the server may still be starting
        return False
    finally:
        web.kill()
        web.wait()


def blocked(client, server, port: int, address: str | None = None) -> bool:
    """True when ``client`` gets nothing over TCP from ``server``, which is listening on
    ``port`` (checked first, so that a refusal is the network's, not a late server)."""
    web = server.host.popen([sys.executable, "-c", SERVE_ONCE, server.ip, str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: f":{port} " in server.host.cmd(f"ss -Hltn sport = :{port}"),
                   timeout=5, what=f"a server on port {port}")
        received = client.host.cmd(f"timeout 2 bash -c 'cat < /dev/tcp/{address or server.ip}"
                                   f"/{port}' 2>/dev/null | wc -c")
        return received.strip() == "0"
    finally:
        web.kill()
        web.wait()


# SCTP through raw sockets, so that no association (and no sctp kernel module) is needed:
# Open vSwitch reads the ports from the 12-byte common header alone
SCTP_COUNTER = ("import socket, sys, time; s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 132)"
                "; s.settimeout(0.2); port, wanted = int(sys.argv[1]), int(sys.argv[2])"
                "; end, seen = time.time() + 3, 0; print('listening', flush=True)\n"
                "while time.time() < end and seen < wanted:\n"
                "    try: data = s.recv(2048)\n"
                "    except TimeoutError: continue\n"
                "    head = (data[0] & 15) * 4\n"
                "    seen += int.from_bytes(data[head + 2:head + 4], 'big') == port\n"
                "print(seen)")
SCTP_SENDER = ("import socket, sys, time; s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 132)"
               "\nfor n in range(int(sys.argv[3])):\n"
               "    s.sendto((40000).to_bytes(2, 'big') + int(sys.argv[2]).to_bytes(2, 'big')"
               " + bytes(8), (sys.argv[1], 0)); time.sleep(0.05)")


def sctp_received(client, server, port: int, count: int = 5) -> int:
    """How many of ``count`` SCTP packets ``client`` sends to ``server``'s ``port`` reach
    ``server``'s stack (within 3 s of the counter starting)."""
    # resolve the server's MAC first (ARP is never filtered): a raw packet sent while
    # the kernel resolves it can be lost, and the count would be the ARP's, not the rule's
    client.host.cmd(f"ping -c1 -W1 {server.ip}")
    counter = server.host.popen([sys.executable, "-c", SCTP_COUNTER, str(port), str(count)],
                                stdout=subprocess.PIPE, text=True)
    assert counter.stdout.readline().strip() == "listening"
    client.host.cmd(f'{sys.executable} -c "{SCTP_SENDER}" {server.ip} {port} {count}')
    return int(counter.communicate(timeout=10)[0])


STREAM_SERVER = ("import socket, sys, time; s = socket.socket(); "
                 "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
                 "s.bind((sys.argv[1], 9000)); s.listen(); c, _ = s.accept(); "
                 "[(c.sendall(b'.'), time.sleep(0.05)) for _ in range(400)]")
STREAM_READER = ("import socket, sys, time; "
                 "c = socket.create_connection((sys.argv[1], 9000), 3); c.settimeout(10)\n"
                 "while True:\n"
                 "    data = c.recv(100)\n"
                 "    if not data: break\n"
                 "    print(time.time(), flush=True)")


class Stream:
    """One TCP connection carrying a byte every 50 ms from ``server`` (port 9000) to
    ``client``, which connects to ``address`` (the server's own by default); ``stop``
    gives the times the client received data."""

    def __init__(self, server, client, address: str | None = None):
        self.server = server.host.popen([sys.executable, "-c", STREAM_SERVER, server.ip])
        time.sleep(0.3)
        self.reader = client.host.popen([sys.executable, "-c", STREAM_READER,
                                         address or server.ip], stdout=subprocess.PIPE,
                                        text=True)
        time.sleep(1.0)

    def stop(self) -> list[float]:
        self.reader.kill()
        self.server.kill()
        return [float(line) for line in self.reader.communicate()[0].split()]


class Tenant:
    """One project's networks and VMs in an emulated cloud; VMs are destroyed at the end."""

    def __init__(self, api: Api, cloud, project: str):
        self.api, self.cloud, self.project = api, cloud, project
        self.vms: list = []

    def network(self, cidr: str, subnet: dict | None = None,
                **provider: Any) -> tuple[dict, dict]:
        """A network (``provider`` attributes without their prefix) with one subnet
        (``subnet``: more of its fields)."""
        network = self.api.create("network", name=f"{self.project}-net",
                                  project_id=self.project,
                                  **{f"provider:{k}": v for k, v in provider.items()})
        created = self.api.create("subnet", network_id=network["id"], cidr=cidr,
                                  ip_version=4, project_id=self.project, **(subnet or {}))
        return network, created

    def routed_out(self, cidr: str, external: dict) -> tuple[dict, dict]:
        """A network of ``cidr`` and its router, with its gateway on the ``external``
        network: (network, router)."""
        network, subnet = self.network(cidr)
        router = self.api.create("router", name=self.project, project_id=self.project)
        self.api.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                     {"subnet_id": subnet["id"]})
        status, body = self.api.put(f"/v2.0/routers/{router['id']}", {"router": {
            "external_gateway_info": {"network_id": external["id"]}}})
        assert status == 200, body
        return network, body["router"]

    def scoped_pool(self, prefix: str) -> dict:
        """A subnet pool of ``prefix`` (subnets of /24 by default) in an address scope of
        its own."""
        scope = self.api.create("address_scope", name=f"{self.project}-scope", ip_version=4,
                                project_id=self.project)
        return self.api.create("subnetpool", name=f"{self.project}-pool", prefixes=[prefix],
                               default_prefixlen=24, address_scope_id=scope["id"],
                               project_id=self.project)

    def vm(self, network: dict, chassis: int, gateway: str | None = None, iface_id: bool = True,
           addressing: str = "auto", **port_fields: Any):
        """A port on the network and a VM for it on hypervisor ``chassis``, wired, with its
        address: ``auto``, by DHCP (dhclient, as an image boots) where its subnet has DHCP,
        else set by hand with ``gateway`` as default route; ``static``, by hand anyway;
        ``none``, left for the test (``vm.dhcp()``)."""
        port = self.api.create("port", network_id=network["id"], project_id=self.project,
                               **port_fields)
        by_dhcp = addressing == "none" or (addressing == "auto" and self._dhcp_serves(port))
        vm = self.cloud.boot(port, self.cloud.hypervisors[chassis],
                             gateway=None if by_dhcp else gateway, iface_id=iface_id,
                             dhcp=by_dhcp)
        self.vms.append(vm)
        self.wait_wired(vm)
        if by_dhcp and addressing == "auto":
            lease = vm.dhcp()
            assert lease and lease["new_ip_address"] == vm.ip, (vm.device, lease)
        return vm

    def _dhcp_serves(self, port: dict) -> bool:
        subnets = [self.api.get(f"/v2.0/subnets/{fixed['subnet_id']}")[1]["subnet"]
                   for fixed in port["fixed_ips"]]
        return bool(subnets) and subnets[0]["enable_dhcp"]

    def wait_wired(self, vm) -> None:
        wait_until(lambda: tag(vm) not in (None, DEAD_VLAN), what=f"{vm.device} tagged")
        wait_until(lambda: self.api.get(f"/v2.0/ports/{vm.port_id}")[1]["port"]["status"]
                   == "ACTIVE", what=f"port {vm.port_id} ACTIVE")

    def cleanup(self) -> None:
        for vm in self.vms:
            self.cloud.destroy(vm)


def capture(interface: str, seconds: float, action, vxlan: bool = False) -> list[str]:
    """tcpdump -e on a wire while ``action`` runs: the ICMP frames it saw, one line each.
    With ``vxlan``, the UDP frames decoded as VXLAN: "outer frame | inner frame"."""
    expression = ["-T", "vxlan", "udp"] if vxlan else ["icmp"]
    heard = wires_heard({interface: ["-e", *expression]}, action, seconds)[interface]
    frames: list[str] = []
    for line in filter(str.strip, heard.splitlines()):
        if line[0].isdigit() or not frames:  # a timestamp starts a frame
            frames.append(line)
        else:
            frames[-1] += " | " + line
    return frames
