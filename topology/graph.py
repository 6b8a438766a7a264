"""The hypervisors, their bridges and ports, and the links between them, as a networkx graph.

Nodes are chassis (``n0``), bridges (``n0/n0-int``), ports (``n0/n0-int/patch-tun``)
and, for links leaving the managed bridges, external endpoints (``external:sw-n0``).
Edges say how they relate: ``has`` (chassis-bridge, bridge-port), ``patch`` (the two
ends of a patch pair), ``tunnel`` (a tunnel port to the chassis it reaches) and
``physical`` (a provider bridge's uplink).  The configuration gives the chassis and
the names of their bridges; OpenFlow (features, port descriptions, port status) and
OVSDB (interface types and options) give the rest.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Iterable

import networkx as nx

from ryu_app.settings import ChassisSpec
from topology.naming import VM_PREFIXES, PortInfo, vm_device_name

ROLES = ("int", "tun", "phys")


@dataclass(frozen=True)
class Bridge:
    dpid: int
    chassis: str
    name: str
    role: str                     # int | tun | phys
    physnet: str | None = None    # for phys bridges

    @property
    def node(self) -> str:
        return f"{self.chassis}/{self.name}"


def agent_id(chassis: str) -> str:
    """A stable agent id per chassis, so `openstack network agent show` survives restarts."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"neutron-ryu-agent:{chassis}"))


class Topology:
    def __init__(self, chassis: Iterable[ChassisSpec]):
        self.graph = nx.Graph()
        self.chassis: dict[str, ChassisSpec] = {}
        self.chassis_by_ip: dict[str, str] = {}
        self.bridges: dict[int, Bridge] = {}
        self.devices: dict[str, str] = {}  # VM device name on an int bridge -> chassis
        for spec in chassis:
            self.chassis[spec.name] = spec
            for address in spec.tunnel_ips:
                self.chassis_by_ip[address] = spec.name
            self.graph.add_node(spec.name, kind="chassis", tunnel_ip=spec.tunnel_ip,
                                bridge_mappings=dict(spec.bridge_mappings))

    # ------------------------------------------------------------- discovery

    def identify(self, dpid: int, bridge_name: str, address: str | None = None) -> Bridge | None:
        """Which chassis and role a bridge has, from its name (and the switch's address
        when several chassis use the same bridge names, as real hypervisors do)."""
        found = [(spec, spec.role_of(bridge_name)) for spec in self.chassis.values()]
        found = [(spec, role) for spec, role in found if role]
        if len(found) > 1:
            found = [(spec, role) for spec, role in found if spec.tunnel_ip == address]
        if len(found) != 1:
            return None
        spec, (role, physnet) = found[0]
        return Bridge(dpid=dpid, chassis=spec.name, name=bridge_name, role=role, physnet=physnet)

    def add_bridge(self, dpid: int, name: str, ports: Iterable[PortInfo],
                   address: str | None = None) -> Bridge | None:
        """A bridge connected; returns None for bridges no chassis claims."""
        bridge = self.identify(dpid, name, address)
        if bridge is None:
            return None
        self.remove_bridge(dpid)
        self.bridges[dpid] = bridge
        self.graph.add_node(bridge.node, kind="bridge", role=bridge.role, dpid=dpid,
                            physnet=bridge.physnet, chassis=bridge.chassis)
        self.graph.add_edge(bridge.chassis, bridge.node, kind="has")
        for port in ports:
            self.add_port(dpid, port)
        return bridge

    def remove_bridge(self, dpid: int) -> Bridge | None:
        bridge = self.bridges.get(dpid)
        if bridge is not None:
            for port_node in list(self._port_nodes(bridge)):
                self.remove_port(dpid, self.graph.nodes[port_node]["port"].name)
            self.graph.remove_node(bridge.node)
            del self.bridges[dpid]
        return bridge

    def add_port(self, dpid: int, port: PortInfo) -> None:
        bridge = self.bridges.get(dpid)
        if bridge is None:
            return
        node = f"{bridge.node}/{port.name}"
        if node in self.graph:
            self.graph.remove_node(node)
        self.graph.add_node(node, kind="port", port=port, bridge=bridge.node,
                            chassis=bridge.chassis)
        self.graph.add_edge(bridge.node, node, kind="has")
        if bridge.role == "int" and port.kind == "vm":
            self.devices[port.name] = bridge.chassis
        self._link(bridge, node, port)

    def remove_port(self, dpid: int, name: str) -> PortInfo | None:
        bridge = self.bridges.get(dpid)
        node = f"{bridge.node}/{name}" if bridge else None
        if node not in self.graph:
            return None
        port = self.graph.nodes[node]["port"]
        self.graph.remove_node(node)
        if self.devices.get(name) == bridge.chassis and bridge.role == "int":
            del self.devices[name]
        self._drop_orphan_externals()
        return port

    def _link(self, bridge: Bridge, node: str, port: PortInfo) -> None:
        if port.kind == "patch":
            peer = port.peer or _neutron_patch_peer(port.name)
            peer_node = self._find_port(bridge.chassis, peer) if peer else None
            if peer_node is not None:
                for end in (node, peer_node):  # a peer seen earlier as external is ours
                    for external in [n for n in self.graph[end] if n.startswith("external:")]:
                        self.graph.remove_edge(end, external)
                self.graph.add_edge(node, peer_node, kind="patch")
                self._drop_orphan_externals()
            elif bridge.role == "phys" and peer:
                # The uplink of a provider bridge into the physical network.
                self.graph.add_node(f"external:{peer}", kind="external")
                self.graph.add_edge(node, f"external:{peer}", kind="physical")
        elif port.kind == "tunnel":
            remote = self.chassis_by_ip.get(port.remote_ip)
            if remote is not None:
                self.graph.add_edge(node, remote, kind="tunnel", tunnel_type=port.tunnel_type)

    def _find_port(self, chassis: str, name: str) -> str | None:
        for node in self.graph.neighbors(chassis):
            candidate = f"{node}/{name}"
            if candidate in self.graph:
                return candidate
        return None

    def _drop_orphan_externals(self) -> None:
        for node in [n for n, kind in self.graph.nodes(data="kind") if kind == "external"]:
            if self.graph.degree(node) == 0:
                self.graph.remove_node(node)

    def _port_nodes(self, bridge: Bridge) -> Iterable[str]:
        return [n for n in self.graph.neighbors(bridge.node)
                if self.graph.nodes[n].get("kind") == "port"]

    # --------------------------------------------------------------- queries

    def bridge(self, chassis: str, role: str, physnet: str | None = None) -> Bridge | None:
        """The connected bridge of a chassis with that role (and physnet, for phys)."""
        for bridge in self.bridges.values():
            if bridge.chassis == chassis and bridge.role == role and (
                    role != "phys" or bridge.physnet == physnet):
                return bridge
        return None

    def bridges_of(self, chassis: str) -> list[Bridge]:
        return [bridge for bridge in self.bridges.values() if bridge.chassis == chassis]

    def port(self, bridge: Bridge, name: str) -> PortInfo | None:
        data = self.graph.nodes.get(f"{bridge.node}/{name}")
        return data["port"] if data else None

    def ports(self, dpid: int) -> list[PortInfo]:
        bridge = self.bridges.get(dpid)
        if bridge is None:
            return []
        return [self.graph.nodes[n]["port"] for n in self._port_nodes(bridge)]

    def tunnel_port(self, chassis: str, remote: str, tunnel_type: str) -> PortInfo | None:
        """The tunnel port on ``chassis``' tunnel bridge that reaches ``remote``."""
        bridge = self.bridge(chassis, "tun")
        if bridge is None:
            return None
        for port in self.ports(bridge.dpid):
            if (port.kind == "tunnel" and port.tunnel_type == tunnel_type
                    and self.chassis_by_ip.get(port.remote_ip) == remote):
                return port
        return None

    def patch_port(self, bridge: Bridge, towards: Bridge) -> PortInfo | None:
        """The patch port of ``bridge`` whose peer sits on ``towards``."""
        for node in self._port_nodes(bridge):
            for neighbor, data in self.graph.adj[node].items():
                if data["kind"] == "patch" and self.graph.nodes[neighbor]["bridge"] == towards.node:
                    return self.graph.nodes[node]["port"]
        return None

    def chassis_hosting(self, port_ids: Iterable[str]) -> set[str]:
        """The chassis whose integration bridges have a device of one of these ports."""
        found = set()
        for port_id in port_ids:
            for prefix in VM_PREFIXES:
                chassis = self.devices.get(vm_device_name(port_id, prefix))
                if chassis is not None:
                    found.add(chassis)
        return found

    def alive(self, chassis: str) -> bool:
        """True when every bridge the chassis is configured with is connected."""
        spec = self.chassis[chassis]
        wanted = {spec.int_bridge, spec.tun_bridge, *spec.bridge_mappings.values()}
        return wanted <= {b.name for b in self.bridges.values() if b.chassis == chassis}

    # ---------------------------------------------------------------- views

    def agents(self, dvr_macs: dict[str, str] | None = None) -> list[dict]:
        """One 'Open vSwitch agent' per chassis, as `GET /v2.0/agents` shows them."""
        dvr_macs = dvr_macs or {}
        return [{
            "id": agent_id(spec.name), "agent_type": "Open vSwitch agent",
            "binary": "neutron-openvswitch-agent", "host": spec.name,
            "topic": "N/A", "alive": self.alive(spec.name), "admin_state_up": True,
            "availability_zone": None, "description": None,
            "configurations": {
                "tunneling_ip": spec.tunnel_ip, "tunnel_types": ["vxlan", "gre"],
                "bridge_mappings": dict(spec.bridge_mappings),
                "integration_bridge": spec.int_bridge, "tunnel_bridge": spec.tun_bridge,
                "l2_population": True, "arp_responder_enabled": True,
                "enable_distributed_routing": True,
                "dvr_mac_address": dvr_macs.get(spec.name),
            },
        } for spec in self.chassis.values()]

    def to_json(self) -> dict:
        """Nodes and edges, JSON-ready, for `GET /v2.0/topology`."""
        nodes = []
        for node, data in self.graph.nodes(data=True):
            entry = {"id": node, **{k: v for k, v in data.items() if k != "port"}}
            port = data.get("port")
            if port is not None:
                entry.update(name=port.name, ofport=port.ofport, port_kind=port.kind)
                for key in ("peer", "tunnel_type", "remote_ip"):
                    if getattr(port, key):
                        entry[key] = getattr(port, key)
            nodes.append(entry)
        edges = [{"source": a, "target": b, **data} for a, b, data in self.graph.edges(data=True)]
        return {"nodes": nodes, "edges": edges}


def _neutron_patch_peer(name: str) -> str | None:
    """The peer Neutron gives a patch port: patch-tun <-> patch-int, int-X <-> phy-X."""
    pairs = {"patch-tun": "patch-int", "patch-int": "patch-tun"}
    if name in pairs:
        return pairs[name]
    if name.startswith("int-"):
        return "phy-" + name[4:]
    if name.startswith("phy-"):
        return "int-" + name[4:]
    return None
