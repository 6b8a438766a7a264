"""A hypervisor ("chassis") as it describes itself in its own Open vSwitch database.

A hypervisor joins with two commands and no configuration on the controller:

    ovs-vsctl set open . external_ids:system-id=compute1 \\
        external_ids:neutron-tunnel-ip=172.16.0.11 \\
        external_ids:neutron-bridge-mappings=physnet1:br-eth1
    ovs-vsctl set-manager tcp:CONTROLLER:6640

``system-id`` is its host name (what ports' ``binding:host_id`` holds), the tunnel IP is
its VXLAN/GRE endpoint (Neutron's ``local_ip``), and the bridge mappings name the
operator's bridge for each physical network (Neutron's ``bridge_mappings``).  An optional
``neutron-datapath-type`` (``system`` or ``netdev``) overrides the controller's
``datapath_type`` for the bridges the controller creates there.  A hypervisor that may
host routers' centralized SNAT (a network node, in Neutron's words) also sets
``external_ids:neutron-agent-mode=dvr_snat``; every other one is ``dvr`` (it still
serves the floating IPs of its own VMs).  ``external_ids:neutron-availability-zone``
names the hypervisor's availability zone (``nova`` unless it says otherwise, Neutron's
default zone); networks and routers are in the zones of the hypervisors that serve
them.  OVN reads its chassis
from the same row (``ovn-encap-ip``, ``ovn-bridge-mappings``); these keys follow suit.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

INT_BRIDGE = "br-int"     # where VMs plug in
TUN_BRIDGE = "br-tun"     # VXLAN and GRE ports to the other hypervisors

SYSTEM_ID = "system-id"
TUNNEL_IP = "neutron-tunnel-ip"
BRIDGE_MAPPINGS = "neutron-bridge-mappings"
DATAPATH_TYPE = "neutron-datapath-type"
DATAPATH_TYPES = ("system", "netdev")
AGENT_MODE = "neutron-agent-mode"
AGENT_MODES = ("dvr", "dvr_snat")    # Neutron's L3 agent modes; dvr_snat may host SNAT
AVAILABILITY_ZONE = "neutron-availability-zone"
DEFAULT_AVAILABILITY_ZONE = "nova"    # Neutron's agents' default_availability_zone
# OVSDB names: at most 15 characters for a device, no spaces
_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_BRIDGE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


@dataclass(frozen=True)
class ChassisSpec:
    """One hypervisor: its name, tunnel endpoint and physical network bridges."""

    name: str
    tunnel_ip: str
    bridge_mappings: dict[str, str] = field(default_factory=dict)  # physnet -> bridge
    datapath_type: str | None = None   # None: the controller's datapath_type
    agent_mode: str = "dvr"            # dvr_snat: may host routers' centralized SNAT
    availability_zone: str = DEFAULT_AVAILABILITY_ZONE

    def role_of(self, bridge_name: str) -> tuple[str, str | None] | None:
        """('int'|'tun'|'phys', physnet) for one of this chassis' bridges, else None."""
        if bridge_name == INT_BRIDGE:
            return "int", None
        if bridge_name == TUN_BRIDGE:
            return "tun", None
        for physnet, bridge in self.bridge_mappings.items():
            if bridge == bridge_name:
                return "phys", physnet
        return None

    def carries(self, network: dict) -> bool:
        """Whether a port of the network can be bound here: a VLAN or flat network only
        where its physical network is mapped, as ML2's OVS driver binds (every hypervisor
        has br-tun for the tunnelled ones)."""
        return network["provider:network_type"] not in ("vlan", "flat") or \
            network["provider:physical_network"] in self.bridge_mappings

    @property
    def bridge_names(self) -> tuple[str, ...]:
        return (INT_BRIDGE, TUN_BRIDGE, *sorted(self.bridge_mappings.values()))

    def record(self) -> dict:
        """As the store keeps it."""
        return {"id": self.name, "tunnel_ip": self.tunnel_ip,
                "bridge_mappings": dict(self.bridge_mappings),
                "datapath_type": self.datapath_type, "agent_mode": self.agent_mode,
                "availability_zone": self.availability_zone}

    @classmethod
    def from_record(cls, record: dict) -> "ChassisSpec":
        return cls(name=record["id"], tunnel_ip=record["tunnel_ip"],
                   bridge_mappings=dict(record["bridge_mappings"]),
                   datapath_type=record.get("datapath_type"),
                   agent_mode=record.get("agent_mode", "dvr"),
                   availability_zone=record.get("availability_zone",
                                                DEFAULT_AVAILABILITY_ZONE))


def parse_bridge_mappings(text: str) -> dict[str, str]:
    """'physnet1:br-eth1,physnet2:br-eth2' -> {physnet: bridge}; ValueError if malformed."""
    mappings: dict[str, str] = {}
    for pair in filter(None, (part.strip() for part in text.split(","))):
        physnet, sep, bridge = pair.partition(":")
        if not sep or not _NAME.match(physnet) or not _BRIDGE.match(bridge):
            raise ValueError(f"bad bridge mapping '{pair}' (want PHYSNET:BRIDGE)")
        if bridge in (INT_BRIDGE, TUN_BRIDGE) or bridge in mappings.values():
            raise ValueError(f"bridge {bridge} cannot serve physnet {physnet}: it is taken")
        mappings[physnet] = bridge
    return mappings


def registration(external_ids: dict[str, str]) -> ChassisSpec:
    """The chassis an Open_vSwitch row's external_ids describe; ValueError (saying which
    key is wrong) if they do not describe one."""
    name = external_ids.get(SYSTEM_ID, "")
    if not _NAME.match(name):
        raise ValueError(f"external_ids:{SYSTEM_ID} must name the host "
                         f"(letters, digits, '.', '_', '-', ':'), got '{name}'")
    try:
        tunnel_ip = str(ipaddress.IPv4Address(external_ids.get(TUNNEL_IP, "")))
    except ValueError:
        raise ValueError(f"external_ids:{TUNNEL_IP} must be the hypervisor's IPv4 tunnel "
                         f"endpoint, got '{external_ids.get(TUNNEL_IP, '')}'") from None
    mappings = parse_bridge_mappings(external_ids.get(BRIDGE_MAPPINGS, ""))
    datapath_type = external_ids.get(DATAPATH_TYPE) or None
    if datapath_type not in (None, *DATAPATH_TYPES):
        raise ValueError(f"external_ids:{DATAPATH_TYPE} must be one of {DATAPATH_TYPES}, "
                         f"got '{datapath_type}'")
    agent_mode = external_ids.get(AGENT_MODE) or "dvr"
    if agent_mode not in AGENT_MODES:
        raise ValueError(f"external_ids:{AGENT_MODE} must be one of {AGENT_MODES}, "
                         f"got '{agent_mode}'")
    zone = external_ids.get(AVAILABILITY_ZONE) or DEFAULT_AVAILABILITY_ZONE
    if not _NAME.match(zone):
        raise ValueError(f"external_ids:{AVAILABILITY_ZONE} must name a zone (letters, "
                         f"digits, '.', '_', '-', ':'), got '{zone}'")
    return ChassisSpec(name=name, tunnel_ip=tunnel_ip, bridge_mappings=mappings,
                       datapath_type=datapath_type, agent_mode=agent_mode,
                       availability_zone=zone)
