"""How Neutron names the ports of a hypervisor's bridges, and how to read them back."""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

TUNNEL_TYPES = ("vxlan", "gre")
_TUNNEL_NAME = re.compile(r"^(vxlan|gre)-([0-9a-f]{8})$")
VM_PREFIXES = ("tap", "qvo")


def tunnel_port_name(tunnel_type: str, remote_ip: str) -> str:
    """Neutron's name for a tunnel port: 'vxlan-' + the remote IPv4 as 8 hex digits."""
    return f"{tunnel_type}-{int(ipaddress.IPv4Address(remote_ip)):08x}"


def parse_tunnel_port_name(name: str) -> tuple[str, str] | None:
    """'vxlan-0a000002' -> ('vxlan', '10.0.0.2'); None for other names."""
    match = _TUNNEL_NAME.match(name)
    if not match:
        return None
    return match.group(1), str(ipaddress.IPv4Address(int(match.group(2), 16)))


def vm_device_name(port_id: str, prefix: str = "tap") -> str:
    """The device name of a VM port on br-int: 'tap' + the first 11 characters of its id."""
    return prefix + port_id[:11]


@dataclass(frozen=True)
class PortInfo:
    """What the controller knows of one bridge port, from OpenFlow and OVSDB."""

    name: str
    ofport: int
    kind: str = "other"            # vm | patch | tunnel | other
    peer: str | None = None        # patch ports: the peer port's name
    tunnel_type: str | None = None
    remote_ip: str | None = None
    mac: str | None = None


def classify(name: str, ofport: int, iface_type: str = "", options: dict | None = None,
             mac: str | None = None) -> PortInfo:
    """Decide what a port is: OVSDB's interface type and options first, else its name."""
    options = options or {}
    if iface_type == "patch" or (not iface_type and _looks_like_patch(name)):
        return PortInfo(name, ofport, "patch", peer=options.get("peer"), mac=mac)
    if iface_type in TUNNEL_TYPES and options.get("remote_ip"):
        return PortInfo(name, ofport, "tunnel", tunnel_type=iface_type,
                        remote_ip=options["remote_ip"], mac=mac)
    parsed = parse_tunnel_port_name(name)
    if parsed and iface_type in ("", parsed[0]):
        return PortInfo(name, ofport, "tunnel", tunnel_type=parsed[0], remote_ip=parsed[1],
                        mac=mac)
    if name.startswith(VM_PREFIXES):
        return PortInfo(name, ofport, "vm", mac=mac)
    return PortInfo(name, ofport, "other", mac=mac)


def _looks_like_patch(name: str) -> bool:
    return name in ("patch-tun", "patch-int") or name.startswith(("int-", "phy-"))
