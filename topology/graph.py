"""The hypervisors, their bridges and ports, and the links between them, as a networkx graph.

Nodes are chassis (``hv0``), bridges (``hv0/br-int``), ports (``hv0/br-int/patch-tun``)
and, for links leaving the managed bridges, external endpoints (``external:hv0:eth2``,
a provider bridge's NIC).
Edges say how they relate: ``has`` (chassis-bridge, bridge-port), ``patch`` (the two
ends of a patch pair), ``tunnel`` (a tunnel port to the chassis it reaches) and
``physical`` (a provider bridge's uplink).  Chassis register themselves (their own
OVSDB ``Open_vSwitch`` row); each one's OVSDB replica gives its bridges (with their
datapath ids) and ports; OpenFlow connections mark bridges connected.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Iterable

import networkx as nx

from topology.chassis import INT_BRIDGE, TUN_BRIDGE, ChassisSpec
from topology.naming import (PORT_ID_PREFIX_LEN, TUNNEL_TYPES, PortInfo, on_integration_bridge,
                             port_id_prefix)


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


@dataclass(frozen=True)
class BridgeView:
    """One bridge as a hypervisor's OVSDB shows it: datapath id (None until the switch
    has one), the ports that have an OpenFlow port number, and the VM ports' access
    tags (None: no tag)."""

    name: str
    dpid: int | None
    ports: tuple[PortInfo, ...] = ()
    tags: dict[str, int | None] = field(default_factory=dict)


@dataclass
class Changes:
    """What one look at a chassis' database changed in the topology."""

    bridges_added: list[Bridge] = field(default_factory=list)
    bridges_removed: list[Bridge] = field(default_factory=list)
    ports_added: list[tuple[Bridge, PortInfo]] = field(default_factory=list)
    ports_removed: list[tuple[Bridge, PortInfo]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.bridges_added or self.bridges_removed or self.ports_added
                    or self.ports_removed)


def agent_id(chassis: str) -> str:
    """A stable agent id per chassis, so `openstack network agent show` survives restarts."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"neutron-ryu-agent:{chassis}"))


def device_key(device: PortInfo) -> str | None:
    """What a VM device says of its port: the full id (iface-id), else an id prefix."""
    return device.iface_id or port_id_prefix(device.name)


class Topology:
    def __init__(self, chassis: Iterable[ChassisSpec] = ()):
        self.graph = nx.Graph()
        self.chassis: dict[str, ChassisSpec] = {}
        self.chassis_by_ip: dict[str, str] = {}
        self.bridges: dict[int, Bridge] = {}       # every bridge a chassis' OVSDB shows
        self.sessions: set[str] = set()            # chassis with an OVSDB session up
        self.connected: set[int] = set()           # datapath ids with OpenFlow up
        self.structure: dict[str, int] = {}        # chassis -> changes of bridges, non-VM ports
        self.vm_devices: dict[str, dict[str, PortInfo]] = {}  # device key -> chassis -> dev
        self._ports: dict[int, dict[str, PortInfo]] = {}     # dpid -> port name -> port
        self._views: dict[int, BridgeView] = {}              # dpid -> the view last synced
        self._tunnels: dict[tuple[str, str, str], PortInfo] = {}  # chassis, remote IP, type
        for spec in chassis:
            self.register(spec)

    # ------------------------------------------------------------- chassis

    def register(self, spec: ChassisSpec) -> None:
        """A chassis joined or changed its description (tunnel IP, bridge mappings)."""
        old = self.chassis.get(spec.name)
        if old is not None and self.chassis_by_ip.get(old.tunnel_ip) == spec.name:
            del self.chassis_by_ip[old.tunnel_ip]
        self.chassis[spec.name] = spec
        self.chassis_by_ip[spec.tunnel_ip] = spec.name
        self.graph.add_node(spec.name, kind="chassis", tunnel_ip=spec.tunnel_ip,
                            bridge_mappings=dict(spec.bridge_mappings))
        for node, data in list(self.graph.nodes(data=True)):
            if data.get("kind") == "port" and data["port"].kind == "tunnel":
                self._link_tunnel(node, data["port"])

    def unregister(self, chassis: str) -> None:
        """A retired chassis, once ``sync_chassis(chassis, [])`` took its bridges: the
        other chassis' tunnels to its IP lead nowhere again."""
        spec = self.chassis.pop(chassis)
        if self.chassis_by_ip.get(spec.tunnel_ip) == chassis:
            del self.chassis_by_ip[spec.tunnel_ip]
        if chassis in self.graph:
            self.graph.remove_node(chassis)
        self.sessions.discard(chassis)
        self.structure.pop(chassis, None)

    def take_bridges(self, chassis: str, views: Iterable[BridgeView]) -> dict[str, Changes]:
        """Bridges the chassis' database shows that another chassis had (a hypervisor
        renamed: a new system-id on the same switches) are taken from that one first;
        what that changed, per chassis that lost bridges."""
        lost: dict[str, Changes] = {}
        for view in views:
            bridge = self.bridges.get(view.dpid) if view.dpid is not None else None
            if bridge is not None and bridge.chassis != chassis:
                changes = lost.setdefault(bridge.chassis, Changes())
                changes.ports_removed += [(bridge, port) for port in self.ports(bridge.dpid)]
                changes.bridges_removed.append(bridge)
                self._remove_bridge(bridge)
                self.structure[bridge.chassis] = self.structure.get(bridge.chassis, 0) + 1
        return lost

    def sync_chassis(self, chassis: str, views: Iterable[BridgeView]) -> Changes:
        """Make the chassis' bridges and ports what its database shows; what changed."""
        spec = self.chassis[chassis]
        changes = Changes()
        wanted: dict[str, tuple[Bridge, BridgeView]] = {}
        for view in views:
            role = spec.role_of(view.name)
            if role is not None and view.dpid is not None:
                bridge = Bridge(view.dpid, chassis, view.name, role[0], role[1])
                wanted[view.name] = (bridge, view)
        for bridge in self.bridges_of(chassis):
            if wanted.get(bridge.name, (None,))[0] != bridge:
                changes.ports_removed += [(bridge, port) for port in self.ports(bridge.dpid)]
                self._remove_bridge(bridge)
                changes.bridges_removed.append(bridge)
        for bridge, view in wanted.values():
            if bridge.dpid not in self.bridges:
                self._add_bridge(bridge)
                changes.bridges_added.append(bridge)
            elif self._views.get(bridge.dpid) is view:
                continue   # the reader kept the view: nothing of this bridge changed
            self._sync_ports(bridge, view.ports, changes)
            self._views[bridge.dpid] = view
        if changes.bridges_added or changes.bridges_removed or any(
                port.kind != "vm" for _, port in changes.ports_added + changes.ports_removed):
            self.structure[chassis] = self.structure.get(chassis, 0) + 1
        return changes

    def _sync_ports(self, bridge: Bridge, ports: Iterable[PortInfo], changes: Changes) -> None:
        current = {port.name: port for port in self.ports(bridge.dpid)}
        if bridge.role == "int":
            ports = map(on_integration_bridge, ports)
        wanted = {port.name: port for port in ports}
        for name, port in current.items():
            if wanted.get(name) != port:
                self._remove_port(bridge, port)
                changes.ports_removed.append((bridge, port))
        # by ofport, which Open vSwitch counts up (until it wraps, or ovs-vswitchd
        # restarts): of two devices for one port read at once (a controller restart),
        # the newer is added last and so is the port's
        for port in sorted(wanted.values(), key=lambda port: port.ofport):
            if current.get(port.name) != port:
                self._add_port(bridge, port)
                changes.ports_added.append((bridge, port))

    # --------------------------------------------------------- graph edits

    def _add_bridge(self, bridge: Bridge) -> None:
        self.bridges[bridge.dpid] = bridge
        self._ports[bridge.dpid] = {}
        self.graph.add_node(bridge.node, kind="bridge", role=bridge.role, dpid=bridge.dpid,
                            physnet=bridge.physnet, chassis=bridge.chassis)
        self.graph.add_edge(bridge.chassis, bridge.node, kind="has")

    def _remove_bridge(self, bridge: Bridge) -> None:
        for port in self.ports(bridge.dpid):
            self._remove_port(bridge, port)
        self.graph.remove_node(bridge.node)
        del self.bridges[bridge.dpid]
        del self._ports[bridge.dpid]
        self._views.pop(bridge.dpid, None)
        self.connected.discard(bridge.dpid)

    def _add_port(self, bridge: Bridge, port: PortInfo) -> None:
        node = f"{bridge.node}/{port.name}"
        self._ports[bridge.dpid][port.name] = port
        self.graph.add_node(node, kind="port", port=port, bridge=bridge.node,
                            chassis=bridge.chassis)
        self.graph.add_edge(bridge.node, node, kind="has")
        if bridge.role == "int" and port.kind == "vm":
            self.vm_devices.setdefault(device_key(port), {})[bridge.chassis] = port
        if bridge.role == "tun" and port.kind == "tunnel":
            self._tunnels[(bridge.chassis, port.remote_ip, port.tunnel_type)] = port
        if port.kind == "patch":
            self._link_patch(bridge, node, port)
        elif port.kind == "tunnel":
            self._link_tunnel(node, port)
        elif bridge.role == "phys":   # the provider bridge's NIC: the physical network
            self._link_external(node, f"{bridge.chassis}:{port.name}")

    def _remove_port(self, bridge: Bridge, port: PortInfo) -> None:
        node = f"{bridge.node}/{port.name}"
        externals = [n for n in self.graph[node] if n.startswith("external:")]
        self.graph.remove_node(node)
        del self._ports[bridge.dpid][port.name]
        tunnel = (bridge.chassis, port.remote_ip, port.tunnel_type)
        if bridge.role == "tun" and self._tunnels.get(tunnel) == port:
            del self._tunnels[tunnel]
        key = device_key(port)
        if bridge.role == "int" and self.vm_devices.get(key, {}).get(bridge.chassis) == port:
            # the newest (highest ofport) older device for the port, still plugged, is
            # the port's again
            older = max((other for other in self._ports[bridge.dpid].values()
                         if other.kind == "vm" and device_key(other) == key),
                        key=lambda other: other.ofport, default=None)
            if older is not None:
                self.vm_devices[key][bridge.chassis] = older
            else:
                del self.vm_devices[key][bridge.chassis]
                if not self.vm_devices[key]:
                    del self.vm_devices[key]
        self._drop_orphan_externals(externals)

    def _link_patch(self, bridge: Bridge, node: str, port: PortInfo) -> None:
        peer_node = self._find_port(bridge.chassis, port.peer) if port.peer else None
        if peer_node is not None:
            for end in (node, peer_node):  # a peer seen earlier as external is ours
                for external in [n for n in self.graph[end] if n.startswith("external:")]:
                    self.graph.remove_edge(end, external)
            self.graph.add_edge(node, peer_node, kind="patch")
            self._drop_orphan_externals()
        elif bridge.role == "phys" and port.peer:
            self._link_external(node, port.peer)   # patched to a bridge we do not manage

    def _link_external(self, node: str, endpoint: str) -> None:
        """A provider bridge's uplink into the physical network."""
        self.graph.add_node(f"external:{endpoint}", kind="external")
        self.graph.add_edge(node, f"external:{endpoint}", kind="physical")

    def _link_tunnel(self, node: str, port: PortInfo) -> None:
        for neighbor, data in list(self.graph.adj[node].items()):
            if data["kind"] == "tunnel":
                self.graph.remove_edge(node, neighbor)
        remote = self.chassis_by_ip.get(port.remote_ip)
        if remote is not None:
            self.graph.add_edge(node, remote, kind="tunnel", tunnel_type=port.tunnel_type)

    def _find_port(self, chassis: str, name: str) -> str | None:
        for node in self.graph.neighbors(chassis):
            candidate = f"{node}/{name}"
            if candidate in self.graph:
                return candidate
        return None

    def _drop_orphan_externals(self, candidates: Iterable[str] | None = None) -> None:
        """External endpoints left without a link (of ``candidates``, or of all)."""
        if candidates is None:
            candidates = [n for n, kind in self.graph.nodes(data="kind") if kind == "external"]
        for node in candidates:
            if node in self.graph and self.graph.degree(node) == 0:
                self.graph.remove_node(node)

    def _port_nodes(self, bridge: Bridge) -> list[str]:
        return [f"{bridge.node}/{name}" for name in self._ports.get(bridge.dpid, {})]

    # --------------------------------------------------------------- queries

    def bridge(self, chassis: str, role: str, physnet: str | None = None) -> Bridge | None:
        """The chassis' bridge with that role (and physnet, for phys)."""
        for bridge in self.bridges.values():
            if bridge.chassis == chassis and bridge.role == role and (
                    role != "phys" or bridge.physnet == physnet):
                return bridge
        return None

    def bridges_of(self, chassis: str) -> list[Bridge]:
        return [bridge for bridge in self.bridges.values() if bridge.chassis == chassis]

    def port(self, bridge: Bridge, name: str) -> PortInfo | None:
        return self._ports.get(bridge.dpid, {}).get(name)

    def port_at(self, dpid: int, ofport: int) -> PortInfo | None:
        """The bridge's port with this OpenFlow port number."""
        return next((port for port in self._ports.get(dpid, {}).values()
                     if port.ofport == ofport), None)

    def ports(self, dpid: int) -> list[PortInfo]:
        return list(self._ports.get(dpid, {}).values())

    def tunnel_port(self, chassis: str, remote: str, tunnel_type: str) -> PortInfo | None:
        """The tunnel port on ``chassis``' tunnel bridge that reaches ``remote``."""
        spec = self.chassis.get(remote)
        return self._tunnels.get((chassis, spec.tunnel_ip, tunnel_type)) if spec else None

    def patch_port(self, bridge: Bridge, towards: Bridge) -> PortInfo | None:
        """The patch port of ``bridge`` whose peer sits on ``towards``."""
        for node in self._port_nodes(bridge):
            for neighbor, data in self.graph.adj[node].items():
                if data["kind"] == "patch" and self.graph.nodes[neighbor]["bridge"] == towards.node:
                    return self.graph.nodes[node]["port"]
        return None

    def devices_of(self, port_id: str) -> dict[str, PortInfo]:
        """{chassis: device} for the VM devices on integration bridges that stand for the
        port: by iface-id, or by the tap/qvo name rule."""
        found = dict(self.vm_devices.get(port_id[:PORT_ID_PREFIX_LEN], {}))
        found.update(self.vm_devices.get(port_id, {}))
        return found

    def connected_bridges(self, chassis: str) -> list[str]:
        """The names of the chassis' bridges whose OpenFlow connection is up."""
        return sorted(bridge.name for bridge in self.bridges_of(chassis)
                      if bridge.dpid in self.connected)

    def vif_details(self, chassis: str, network: dict, datapath_type: str) -> dict | None:
        """What a port of the network bound on the hypervisor gets as vif_details, as
        ML2's OVS driver gives them (``datapath_type``: its bridges' unless it names its
        own; Nova's os-vif makes br-int with it), if it is one we know (registered, not
        retired) and carries the network; None otherwise.  Not whether it is connected
        this instant: a controller restart, a bridge's OpenFlow reconnecting, would fail
        Nova's boots (Neutron counts an agent alive for agent_down_time)."""
        spec = self.chassis.get(chassis)
        if spec is None or not spec.carries(network):
            return None
        return {"port_filter": True, "ovs_hybrid_plug": False, "bridge_name": INT_BRIDGE,
                "datapath_type": spec.datapath_type or datapath_type, "connectivity": "l2"}

    def alive(self, chassis: str) -> bool:
        """True while the chassis' OVSDB session is up and every bridge it should have
        (br-int, br-tun, its mapped bridges) is connected over OpenFlow."""
        if chassis not in self.sessions:
            return False
        return set(self.chassis[chassis].bridge_names) <= set(self.connected_bridges(chassis))

    # ---------------------------------------------------------------- views

    def agents(self, dvr_macs: dict[str, str] | None = None,
               datapath_type: str | None = None) -> list[dict]:
        """One 'Open vSwitch agent' per chassis, as the hypervisor describes it
        (``datapath_type``: the one its bridges get unless it names its own); the API
        adds the operator's ``admin_state_up`` and ``description`` (model/agents.py)."""
        dvr_macs = dvr_macs or {}
        return [{
            "id": agent_id(spec.name), "agent_type": "Open vSwitch agent",
            "binary": "neutron-openvswitch-agent", "host": spec.name,
            "topic": "N/A", "alive": self.alive(spec.name),
            "availability_zone": spec.availability_zone,
            "configurations": {
                "tunneling_ip": spec.tunnel_ip, "tunnel_types": list(TUNNEL_TYPES),
                "bridge_mappings": dict(spec.bridge_mappings),
                "integration_bridge": INT_BRIDGE, "tunnel_bridge": TUN_BRIDGE,
                "datapath_type": spec.datapath_type or datapath_type,
                "ovsdb_connected": spec.name in self.sessions,
                "openflow_connected": self.connected_bridges(spec.name),
                "l2_population": True, "arp_responder_enabled": True,
                "enable_distributed_routing": True,
                "dvr_mac_address": dvr_macs.get(spec.name),
                "agent_mode": spec.agent_mode,
            },
        } for spec in self.chassis.values()]

    def to_json(self) -> dict:
        """Nodes and edges, JSON-ready, for `GET /v2.0/topology`."""
        nodes = []
        for node, data in self.graph.nodes(data=True):
            entry = {"id": node, **{k: v for k, v in data.items() if k != "port"}}
            if data.get("kind") == "bridge":
                entry["connected"] = data["dpid"] in self.connected
            port = data.get("port")
            if port is not None:
                entry.update(name=port.name, ofport=port.ofport, port_kind=port.kind)
                for key in ("peer", "tunnel_type", "remote_ip", "iface_id"):
                    if getattr(port, key):
                        entry[key] = getattr(port, key)
            nodes.append(entry)
        edges = [{"source": a, "target": b, **data} for a, b, data in self.graph.edges(data=True)]
        return {"nodes": nodes, "edges": edges}
