"""How Neutron names the ports of a hypervisor's bridges, and how to read them back."""
from __future__ import annotations

import functools
import hashlib
import ipaddress
from dataclasses import dataclass

TUNNEL_TYPES = ("vxlan", "gre")   # the network types that cross the underlay in br-tun
VM_PREFIXES = ("tap", "qvo")
PORT_ID_PREFIX_LEN = 11     # 'tap' + 11 characters of the port id: 14 of Linux's 15
DEVICE_NAME_MAX = 15
PATCH_TUN, PATCH_INT = "patch-tun", "patch-int"   # br-int's and br-tun's ends of their pair


@functools.lru_cache(maxsize=4096)
def tunnel_port_name(tunnel_type: str, remote_ip: str) -> str:
    """Neutron's name for a tunnel port: 'vxlan-' + the remote IPv4 as 8 hex digits."""
    return f"{tunnel_type}-{int(ipaddress.IPv4Address(remote_ip)):08x}"


def physical_patch_names(bridge: str) -> tuple[str, str]:
    """(br-int's end, the physical bridge's end) of the patch pair to ``bridge``:
    'int-br-eth1' and 'phy-br-eth1', shortened with a hash, as Neutron does, when
    longer than a device name may be."""
    return _device_name("int-", bridge), _device_name("phy-", bridge)


def _device_name(prefix: str, name: str) -> str:
    if len(prefix) + len(name) <= DEVICE_NAME_MAX:
        return prefix + name
    digest = hashlib.sha1(name.encode()).hexdigest()[:6]
    return prefix + name[:DEVICE_NAME_MAX - len(prefix) - len(digest)] + digest


def vm_device_name(port_id: str, prefix: str = "tap") -> str:
    """The device name Nova gives a VM port: 'tap' + the first 11 characters of its id."""
    return prefix + port_id[:PORT_ID_PREFIX_LEN]


def port_id_prefix(device_name: str) -> str | None:
    """The port id prefix a 'tap'/'qvo' device name carries, for devices plugged without
    ``external_ids:iface-id`` (the fallback of Neutron's agent)."""
    for prefix in VM_PREFIXES:
        if device_name.startswith(prefix) and len(device_name) > len(prefix):
            return device_name[len(prefix):len(prefix) + PORT_ID_PREFIX_LEN]
    return None


@dataclass(frozen=True)
class PortInfo:
    """What the controller knows of one bridge port, from the hypervisor's OVSDB."""

    name: str
    ofport: int
    kind: str = "other"            # vm | patch | tunnel | other
    peer: str | None = None        # patch ports: the peer port's name
    tunnel_type: str | None = None
    remote_ip: str | None = None
    iface_id: str | None = None    # VM ports: external_ids:iface-id, the Neutron port id


def classify(name: str, ofport: int, iface_type: str = "", options: dict | None = None,
             external_ids: dict | None = None) -> PortInfo:
    """Decide what a port is: OVSDB's interface type and options first, else its name.
    A VM port is one plugged with ``external_ids:iface-id`` (as Nova and libvirt plug
    them) or named by the tap/qvo rule."""
    options = options or {}
    iface_id = (external_ids or {}).get("iface-id") or None
    if iface_type == "patch":
        return PortInfo(name, ofport, "patch", peer=options.get("peer"))
    if iface_type in TUNNEL_TYPES and options.get("remote_ip"):
        return PortInfo(name, ofport, "tunnel", tunnel_type=iface_type,
                        remote_ip=options["remote_ip"])
    if iface_id or port_id_prefix(name):
        return PortInfo(name, ofport, "vm", iface_id=iface_id)
    return PortInfo(name, ofport, "other")


def on_integration_bridge(port: PortInfo) -> PortInfo:
    """A port as br-int holds it: besides patch and tunnel ports, every port is a VM
    device, named by a port or not (a device plugged with neither ``iface-id`` nor a
    tap/qvo name, such as libvirt's vnetN).  One that names no port is then dead (tag
    4095, its frames dropped): an untagged port is one that Open vSwitch's NORMAL makes a
    trunk of every VLAN, sending into and hearing every network of the bridge."""
    if port.kind != "other":
        return port
    return PortInfo(port.name, port.ofport, "vm")
