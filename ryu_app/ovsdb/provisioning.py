"""What the controller builds on each hypervisor, and the OVSDB transactions that get it
there from what the hypervisor's database holds (pure).

What Neutron's OVS agent sets up when it starts, and the tunnels l2population asks for
(seed 000, ../shared/seeds/000_*.txt: ``vxlan-ac0a000b`` appears on both nodes when they
first share a network):

- br-int and br-tun, created if missing with the hypervisor's datapath type;
- on br-int, br-tun and every mapped physical bridge: ``fail_mode=secure`` (forward
  nothing the controller did not install), OpenFlow 1.3, one controller (this
  controller, out-of-band, reconnecting within a second), a stable datapath id;
- the patch pairs ``patch-tun``/``patch-int`` and ``int-br-X``/``phy-br-X``;
- on br-tun, one ``vxlan-``/``gre-`` port per remote hypervisor that shares a network of
  that type, with the seeds' options, and no other tunnel port of ours.

Every bridge and port the controller creates carries ``external_ids:created-by``; it
deletes only such ports, and never a bridge.  Each transaction changes one object and
has a key, so a caller can hold back an object whose change is already on its way.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Hashable

from ryu_app.ovsdb.protocol import (Operation, Replica, Row, members, named, ovs_map, ovs_set, ref,
                                    scalar)
from topology.chassis import INT_BRIDGE, TUN_BRIDGE, ChassisSpec
from topology.naming import (PATCH_INT, PATCH_TUN, TUNNEL_TYPES, physical_patch_names,
                             tunnel_port_name)

CREATED_BY = {"created-by": "neutron-ryu"}
OPENFLOW13 = "OpenFlow13"
CONTROLLER_BACKOFF_MS = 1000   # reconnect within a second once the controller is back

Transaction = tuple[Hashable, list[Operation]]


@dataclass(frozen=True)
class Target:
    """What one hypervisor should hold."""

    spec: ChassisSpec
    datapath_type: str                          # for every bridge it manages
    controller: str                             # OpenFlow target: tcp:IP:PORT or ssl:IP:PORT
    tunnels: frozenset[tuple[str, str]] = frozenset()   # (tunnel type, remote IP)

    def patches(self) -> dict[tuple[str, str], str]:
        """{(bridge, patch port): its peer} for Neutron's patch pairs."""
        found = {(INT_BRIDGE, PATCH_TUN): PATCH_INT, (TUN_BRIDGE, PATCH_INT): PATCH_TUN}
        for bridge in self.spec.bridge_mappings.values():
            int_end, phy_end = physical_patch_names(bridge)
            found[(INT_BRIDGE, int_end)] = phy_end
            found[(bridge, phy_end)] = int_end
        return found

    def tunnel_ports(self) -> dict[str, tuple[str, dict[str, str]]]:
        """{port name: (type, options)} of the tunnel ports br-tun should have."""
        return {tunnel_port_name(kind, remote): (kind, tunnel_options(self.spec.tunnel_ip, remote))
                for kind, remote in self.tunnels}


def tunnel_options(local_ip: str, remote_ip: str) -> dict[str, str]:
    """A tunnel port's options, as the seeds show them: the key comes from the flow
    (tun_id), and the outer header never fragments."""
    return {"df_default": "true", "in_key": "flow", "out_key": "flow",
            "local_ip": local_ip, "remote_ip": remote_ip}


def datapath_id(chassis: str, bridge: str) -> str:
    """A datapath id that stays the same across ovs-vswitchd restarts (16 hex digits)."""
    return hashlib.sha256(f"{chassis}/{bridge}".encode()).hexdigest()[:16]


def plan(replica: Replica, target: Target) -> list[Transaction]:
    """The transactions that take the database to the target; none when it is there."""
    root = replica.root()
    if root is None:
        return []
    view = _Database(replica)
    transactions: list[Transaction] = []
    for name in (INT_BRIDGE, TUN_BRIDGE):
        if name not in view.bridges:
            transactions.append((("bridge", name), _create_bridge(root[0], name, target)))
    for name in target.spec.bridge_names:
        if name in view.bridges:
            operations = _bridge_settings(view, name, target)
            if operations:
                transactions.append((("settings", name), operations))
    transactions += _patch_ports(view, target)
    transactions += _tunnel_ports(view, target)
    return transactions


class Provisioner:
    """One hypervisor's provisioning over time: the transactions to send now, leaving out
    objects whose change is under way, and nothing at all when neither the database nor
    the target moved since the last look."""

    def __init__(self) -> None:
        self.in_flight: set[Hashable] = set()
        self._looked_at: tuple | None = None
        self._tags: dict[str, int] = {}    # tags waiting for the one on its way

    def due(self, replica: Replica, target: Target, structure: int) -> list[Transaction]:
        """``structure`` counts the changes of the hypervisor's bridges and non-VM ports
        (the topology's); with the replica's settings version and the target it says
        whether anything the plan reads has moved."""
        if self._looked_at == (replica.settings_version, structure, target):
            return []
        self._looked_at = (replica.settings_version, structure, target)
        due = [(key, ops) for key, ops in plan(replica, target) if key not in self.in_flight]
        self.in_flight |= {key for key, _ in due}
        return due

    def retag(self, replica: Replica, tags: dict[str, int]) -> Transaction | None:
        """The VM ports' tags wanted now: one transaction for those that differ, unless a
        tags transaction is on its way; then they wait for its answer and go together.
        Under load one transaction carries the tags of many new ports, and ovs-vswitchd
        reconfigures its bridges once for them, not once per port."""
        self._tags.update(tags)
        if any(key[0] == "tags" for key in self.in_flight):
            return None
        operations, changed = retag(replica, self._tags)
        self._tags = {}
        if not operations:
            return None
        key = ("tags", tuple(changed))
        self.in_flight.add(key)
        return key, operations

    def settled(self, key: Hashable) -> None:
        """A transaction was answered: its object is free, and the plan may differ (not
        for port tags, which the plan does not read)."""
        self.in_flight.discard(key)
        if key[0] != "tags":
            self._looked_at = None


def controller_target(address: str, port: int, tls: bool) -> str:
    """The OpenFlow target for a hypervisor's bridges: the address it reached us on."""
    host = f"[{address}]" if ":" in address else address
    return f"{'ssl' if tls else 'tcp'}:{host}:{port}"


def retag(replica: Replica, tags: dict[str, int]) -> tuple[list[Operation], list[str]]:
    """Set VM ports' access VLANs ({port name: its network's local VLAN, or the dead
    VLAN}), in one transaction; the ports it changes (not those that have their tag
    already or are not in the database)."""
    operations, changed = [], []
    for uuid, port in replica.rows("Port"):
        tag = tags.get(port["name"])
        if tag is not None and scalar(port.get("tag")) != tag:
            operations.append({"op": "update", "table": "Port",
                               "where": [["_uuid", "==", ref(uuid)]], "row": {"tag": tag}})
            changed.append(port["name"])
    return operations, changed


class _Database:
    """The replica's bridges and ports by name."""

    def __init__(self, replica: Replica):
        self.replica = replica
        self.bridges: dict[str, tuple[str, Row]] = {
            row["name"]: (uuid, row) for uuid, row in replica.rows("Bridge")}
        self.port_bridge: dict[str, str] = {}          # port uuid -> bridge name
        for name, (_, row) in self.bridges.items():
            for port_uuid in members(row.get("ports", [])):
                self.port_bridge[port_uuid] = name
        self.ports: dict[str, tuple[str, Row, Row | None]] = {}   # name -> uuid, port, iface
        for uuid, port in replica.rows("Port"):
            interfaces = members(port.get("interfaces", []))
            iface = replica.get("Interface", interfaces[0]) if interfaces else None
            self.ports[port["name"]] = (uuid, port, iface)

    def controllers(self, bridge: Row) -> list[Row]:
        return [row for uuid in members(bridge.get("controller", []))
                if (row := self.replica.get("Controller", uuid)) is not None]


def _controller_row(target: Target) -> dict:
    return {"target": target.controller, "connection_mode": "out-of-band",
            "max_backoff": CONTROLLER_BACKOFF_MS}


def _create_bridge(root_uuid: str, name: str, target: Target) -> list[Operation]:
    """A bridge with its local port, as ``ovs-vsctl add-br`` makes it, already secured
    and pointed at the controller."""
    return [
        {"op": "insert", "table": "Interface", "uuid-name": "iface",
         "row": {"name": name, "type": "internal"}},
        {"op": "insert", "table": "Port", "uuid-name": "port",
         "row": {"name": name, "interfaces": named("iface")}},
        {"op": "insert", "table": "Controller", "uuid-name": "controller",
         "row": _controller_row(target)},
        {"op": "insert", "table": "Bridge", "uuid-name": "bridge",
         "row": {"name": name, "ports": named("port"), "datapath_type": target.datapath_type,
                 "fail_mode": "secure", "protocols": ovs_set([OPENFLOW13]),
                 "controller": named("controller"),
                 "other_config": ovs_map({"datapath-id": datapath_id(target.spec.name, name)}),
                 "external_ids": ovs_map(CREATED_BY)}},
        {"op": "mutate", "table": "Open_vSwitch", "where": [["_uuid", "==", ref(root_uuid)]],
         "mutations": [["bridges", "insert", ovs_set([named("bridge")])]]},
    ]


def _bridge_settings(view: _Database, name: str, target: Target) -> list[Operation]:
    uuid, bridge = view.bridges[name]
    where = [["_uuid", "==", ref(uuid)]]
    operations: list[Operation] = []
    row: dict = {}
    if scalar(bridge.get("fail_mode")) != "secure":
        row["fail_mode"] = "secure"
    if OPENFLOW13 not in members(bridge.get("protocols", [])):
        row["protocols"] = ovs_set([OPENFLOW13])
    # as Neutron's agent does on each bridge (add_br, may_exist): a bridge made with
    # another datapath type, or a hypervisor that names a new one, gets the one wanted
    if (scalar(bridge.get("datapath_type")) or "system") != (target.datapath_type or "system"):
        row["datapath_type"] = target.datapath_type
    wanted = _controller_row(target)
    controllers = view.controllers(bridge)
    if len(controllers) != 1 or any(scalar(controllers[0].get(k)) != v for k, v in wanted.items()):
        operations.append({"op": "insert", "table": "Controller", "uuid-name": "controller",
                           "row": wanted})
        row["controller"] = named("controller")
    if row:
        operations.append({"op": "update", "table": "Bridge", "where": where, "row": row})
    dpid = datapath_id(target.spec.name, name)
    if bridge.get("other_config", {}).get("datapath-id") != dpid:
        operations.append({"op": "mutate", "table": "Bridge", "where": where, "mutations": [
            ["other_config", "delete", ovs_set(["datapath-id"])],
            ["other_config", "insert", ovs_map({"datapath-id": dpid})]]})
    return operations


def _is_ours(port: Row) -> bool:
    return port.get("external_ids", {}).get("created-by") == CREATED_BY["created-by"]


def _patch_ports(view: _Database, target: Target) -> list[Transaction]:
    """Both ends of a patch pair in one transaction, so neither is ever without its peer."""
    wanted = target.patches()
    transactions = []
    for (bridge, name), peer in sorted(wanted.items()):
        peer_bridge = next(b for (b, n), p in wanted.items() if n == peer and p == name)
        if (bridge, name) > (peer_bridge, peer) or not {bridge, peer_bridge} <= set(view.bridges):
            continue   # each pair once, when both bridges exist
        operations = (_ensure_port(view, bridge, name, "patch", {"peer": peer})
                      + _ensure_port(view, peer_bridge, peer, "patch", {"peer": name}))
        if operations:
            transactions.append((("patch", name, peer), operations))
    for name, (uuid, port, iface) in sorted(view.ports.items()):
        bridge = view.port_bridge.get(uuid)
        if (iface is not None and iface.get("type") == "patch" and _is_ours(port)
                and bridge is not None and (bridge, name) not in wanted):
            transactions.append((("port", name), _delete_port(view, bridge, uuid)))
    return transactions


def _tunnel_ports(view: _Database, target: Target) -> list[Transaction]:
    if TUN_BRIDGE not in view.bridges:
        return []
    wanted = target.tunnel_ports()
    transactions = []
    for name, (kind, options) in sorted(wanted.items()):
        operations = _ensure_port(view, TUN_BRIDGE, name, kind, options)
        if operations:
            transactions.append((("port", name), operations))
    for name, (uuid, port, iface) in sorted(view.ports.items()):
        if (name not in wanted and iface is not None and iface.get("type") in TUNNEL_TYPES
                and _is_ours(port) and view.port_bridge.get(uuid) == TUN_BRIDGE):
            transactions.append((("port", name), _delete_port(view, TUN_BRIDGE, uuid)))
    return transactions


def _ensure_port(view: _Database, bridge: str, name: str, kind: str,
                 options: dict[str, str]) -> list[Operation]:
    """Add the port, or correct its type and options if it is ours and differs.  A port
    of that name that the controller did not create is the operator's: left alone."""
    existing = view.ports.get(name)
    if existing is None:
        bridge_uuid = view.bridges[bridge][0]
        iface, port = f"iface_{_symbol(name)}", f"port_{_symbol(name)}"
        return [
            {"op": "insert", "table": "Interface", "uuid-name": iface,
             "row": {"name": name, "type": kind, "options": ovs_map(options)}},
            {"op": "insert", "table": "Port", "uuid-name": port,
             "row": {"name": name, "interfaces": named(iface),
                     "external_ids": ovs_map(CREATED_BY)}},
            {"op": "mutate", "table": "Bridge", "where": [["_uuid", "==", ref(bridge_uuid)]],
             "mutations": [["ports", "insert", ovs_set([named(port)])]]},
        ]
    uuid, port_row, iface_row = existing
    if (not _is_ours(port_row) or iface_row is None or view.port_bridge.get(uuid) != bridge
            or (iface_row.get("type") == kind and iface_row.get("options") == options)):
        return []
    interface_uuid = members(port_row["interfaces"])[0]
    return [{"op": "update", "table": "Interface",
             "where": [["_uuid", "==", ref(interface_uuid)]],
             "row": {"type": kind, "options": ovs_map(options)}}]


def _symbol(name: str) -> str:
    """A port name as an OVSDB uuid-name (letters, digits, underscores)."""
    return "".join(c if c.isalnum() else "_" for c in name)


def _delete_port(view: _Database, bridge: str, port_uuid: str) -> list[Operation]:
    """Unlink the port from its bridge; OVSDB garbage-collects the Port and Interface."""
    return [{"op": "mutate", "table": "Bridge",
             "where": [["_uuid", "==", ref(view.bridges[bridge][0])]],
             "mutations": [["ports", "delete", ovs_set([ref(port_uuid)])]]}]
