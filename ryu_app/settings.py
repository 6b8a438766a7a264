"""The controller's settings as plain data, parsed from the configuration file.

Kept free of oslo.config so that tests and the pure layers can build settings
directly; :mod:`ryu_app.config` fills this from Ryu's ``--config-file``.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field

from ryu_app.model.segments import parse_range, parse_vlan_ranges


@dataclass(frozen=True)
class ChassisSpec:
    """One hypervisor: its tunnel endpoint and the names of its bridges."""

    name: str
    tunnel_ip: str
    int_bridge: str = "br-int"
    tun_bridge: str = "br-tun"
    bridge_mappings: dict[str, str] = field(default_factory=dict)  # physnet -> bridge
    tunnel_aliases: tuple[str, ...] = ()   # further underlay addresses of this chassis

    @property
    def tunnel_ips(self) -> tuple[str, ...]:
        return (self.tunnel_ip, *self.tunnel_aliases)

    def role_of(self, bridge_name: str) -> tuple[str, str | None] | None:
        """('int'|'tun'|'phys', physnet) for one of this chassis' bridges, else None."""
        if bridge_name == self.int_bridge:
            return "int", None
        if bridge_name == self.tun_bridge:
            return "tun", None
        for physnet, bridge in self.bridge_mappings.items():
            if bridge == bridge_name:
                return "phys", physnet
        return None


def parse_chassis(entry: str) -> ChassisSpec:
    """'n0 tunnel_ip=172.31.0.10 int_bridge=n0-int tun_bridge=n0-tun
    bridge_mappings=physnet1:n0-eth1 [tunnel_aliases=172.31.1.10,...]' -> ChassisSpec."""
    words = entry.split()
    if not words or "=" in words[0]:
        raise ValueError(f"chassis entry '{entry}' must start with the chassis name")
    options = {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep or key not in ("tunnel_ip", "int_bridge", "tun_bridge", "bridge_mappings",
                                  "tunnel_aliases"):
            raise ValueError(f"chassis entry '{entry}': unknown option '{word}'")
        options[key] = value
    if "tunnel_ip" not in options:
        raise ValueError(f"chassis entry '{entry}' needs tunnel_ip=")
    aliases = tuple(filter(None, options.pop("tunnel_aliases", "").split(",")))
    for address in (options["tunnel_ip"], *aliases):
        ipaddress.IPv4Address(address)
    mappings = {}
    for pair in filter(None, options.pop("bridge_mappings", "").split(",")):
        physnet, sep, bridge = pair.partition(":")
        if not sep or not physnet or not bridge:
            raise ValueError(f"chassis entry '{entry}': bad bridge mapping '{pair}'")
        mappings[physnet] = bridge
    return ChassisSpec(name=words[0], bridge_mappings=mappings, tunnel_aliases=aliases,
                       **options)


def default_chassis() -> ChassisSpec:
    """A single local hypervisor with Neutron's bridge names, when none is configured."""
    return ChassisSpec(name=socket.gethostname(), tunnel_ip="127.0.0.1",
                       bridge_mappings={"physnet1": "br-eth1"})


@dataclass(frozen=True)
class Settings:
    db_path: str = "/var/lib/neutron-ryu/neutron.sqlite"
    db_synchronous: str = "NORMAL"
    type_drivers: tuple[str, ...] = ("local", "flat", "vlan", "vxlan", "gre")
    tenant_network_types: tuple[str, ...] = ("vxlan",)
    vni_ranges: tuple[tuple[int, int], ...] = ((1001, 2000),)
    tunnel_id_ranges: tuple[tuple[int, int], ...] = ((1, 1000),)
    network_vlan_ranges: dict[str, list[tuple[int, int]]] = field(
        default_factory=lambda: {"physnet1": [(3001, 4000)]})
    flat_networks: tuple[str, ...] = ("*",)
    default_project_id: str = "admin"
    router_distributed: bool = True
    global_physnet_mtu: int = 1500
    dvr_base_mac: str = "fa:16:3f:00:00:00"
    packet_in_rate_limit: int = 100
    ovsdb_connection: str = "unix:/var/run/openvswitch/db.sock"
    chassis: tuple[ChassisSpec, ...] = field(default_factory=lambda: (default_chassis(),))

    @classmethod
    def parse(cls, *, vni_ranges: list[str], tunnel_id_ranges: list[str],
              network_vlan_ranges: list[str], chassis: list[str], **plain) -> "Settings":
        """Settings from configuration strings, raising ValueError on any bad value."""
        physnets = parse_vlan_ranges(network_vlan_ranges)
        specs = tuple(parse_chassis(entry) for entry in chassis) or (default_chassis(),)
        names = [spec.name for spec in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"chassis names must be unique: {names}")
        for spec in specs:
            for physnet in spec.bridge_mappings:
                physnets.setdefault(physnet, [])
        unknown = set(plain.get("tenant_network_types", ())) - set(
            plain.get("type_drivers", cls.type_drivers))
        if unknown:
            raise ValueError(f"tenant_network_types {sorted(unknown)} are not in type_drivers")
        return cls(vni_ranges=tuple(map(parse_range, vni_ranges)),
                   tunnel_id_ranges=tuple(map(parse_range, tunnel_id_ranges)),
                   network_vlan_ranges=physnets, chassis=specs,
                   **{k: tuple(v) if isinstance(v, list) else v for k, v in plain.items()})
