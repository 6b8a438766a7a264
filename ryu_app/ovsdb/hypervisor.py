"""What a hypervisor's OVSDB replica says, in topology terms (pure)."""
from __future__ import annotations

from ryu_app.ovsdb.protocol import Replica, Row, members, scalar
from topology.chassis import ChassisSpec, registration
from topology.graph import BridgeView
from topology.naming import PortInfo, classify

OFPP_MAX = 0xFF00   # ofports at or above are reserved (LOCAL is 0xFFFE)


def external_ids(replica: Replica) -> dict[str, str]:
    root = replica.root()
    return dict(root[1].get("external_ids", {})) if root else {}


class DatabaseReader:
    """One hypervisor's replica read as a chassis and its bridges, re-reading only the
    rows that changed since the last look: plugging the 60th VM into br-int re-reads
    br-int, not every port of every bridge.  (A changed row is a new row object, so
    what was read from the old one stands until then.)"""

    def __init__(self, replica: Replica):
        self.replica = replica
        self._registration: tuple[Row | None, ChassisSpec | ValueError] | None = None
        self._views: dict[str, BridgeView] = {}        # bridge uuid -> its view
        self._ports: dict[str, dict[str, str | None]] = {}  # bridge -> port -> interface
        self._bridge_of: dict[str, str] = {}            # port uuid -> bridge uuid
        self._port_of: dict[str, str] = {}              # interface uuid -> port uuid
        self._read: dict[str, tuple[Row, PortInfo | None]] = {}   # interface: row, as read

    def chassis(self) -> ChassisSpec:
        """The chassis the Open_vSwitch row describes (ValueError if it does not)."""
        root = self.replica.root()
        row = root[1] if root else None
        if self._registration is None or self._registration[0] is not row:
            try:
                self._registration = (row, registration(external_ids(self.replica)))
            except ValueError as error:
                self._registration = (row, error)
        found = self._registration[1]
        if isinstance(found, ValueError):
            raise found
        return found

    def bridges(self) -> list[BridgeView]:
        """Every bridge with its datapath id and the ports that have an OpenFlow number."""
        stale = set()
        for table, uuid in self.replica.take_touched():
            if table == "Bridge":
                stale.add(uuid)
            elif table == "Port":
                stale.add(self._bridge_of.get(uuid))
            elif table == "Interface":
                stale.add(self._bridge_of.get(self._port_of.get(uuid, "")))
        for uuid in stale - {None}:
            row = self.replica.get("Bridge", uuid)
            before = self._ports.pop(uuid, {})
            if row is None:
                self._views.pop(uuid, None)
            else:
                self._views[uuid] = self._read_bridge(uuid, row)
            self._forget(uuid, before, self._ports.get(uuid, {}))
        return list(self._views.values())

    def reread(self) -> None:
        """Drop what changed meanwhile: the next ``bridges()`` reads every bridge afresh
        (a database refused until it registered must not pile up its changes)."""
        self.replica.take_touched()
        self._views.clear()
        self._ports.clear()
        self._bridge_of.clear()
        self._port_of.clear()
        self._read.clear()
        self.replica.touched.update(("Bridge", uuid) for uuid, _ in self.replica.rows("Bridge"))

    def _forget(self, bridge_uuid: str, before: dict[str, str | None],
                now: dict[str, str | None]) -> None:
        """What was read of the bridge's ports that left it, unless another bridge took
        them meanwhile, and of interfaces its ports no longer have."""
        for port_uuid, interface_uuid in before.items():
            if port_uuid in now:
                if now[port_uuid] != interface_uuid:
                    self._drop_interface(port_uuid, interface_uuid)
            elif self._bridge_of.get(port_uuid) == bridge_uuid:
                del self._bridge_of[port_uuid]
                self._drop_interface(port_uuid, interface_uuid)

    def _drop_interface(self, port_uuid: str, interface_uuid: str | None) -> None:
        if interface_uuid and self._port_of.get(interface_uuid) == port_uuid:
            del self._port_of[interface_uuid]
            self._read.pop(interface_uuid, None)

    def _read_bridge(self, uuid: str, bridge: Row) -> BridgeView:
        datapath_id = scalar(bridge.get("datapath_id"))
        ports: list[PortInfo] = []
        tags: dict[str, int | None] = {}
        interface_of = self._ports[uuid] = {}
        for port_uuid in members(bridge.get("ports", [])):
            self._bridge_of[port_uuid] = uuid
            port = self.replica.get("Port", port_uuid)
            interfaces = members(port.get("interfaces", [])) if port else []
            interface_of[port_uuid] = interfaces[0] if len(interfaces) == 1 else None
            if len(interfaces) != 1:
                continue   # not yet in the replica, or a bond (not a VM or tunnel)
            self._port_of[interfaces[0]] = port_uuid
            interface = self.replica.get("Interface", interfaces[0])
            known = self._read.get(interfaces[0])
            if known is None or known[0] is not interface:
                known = self._read[interfaces[0]] = (interface, _port_info(interface))
            if known[1] is not None:
                ports.append(known[1])
                if known[1].kind in ("vm", "other"):   # a device, on br-int (naming.py)
                    tags[known[1].name] = scalar(port.get("tag"))
        return BridgeView(bridge["name"], int(datapath_id, 16) if datapath_id else None,
                          tuple(sorted(ports, key=lambda p: p.name)), tags)


def _port_info(interface: Row | None) -> PortInfo | None:
    """An interface as a bridge port, if it has an OpenFlow number."""
    ofport = scalar(interface.get("ofport")) if interface else None
    if not isinstance(ofport, int) or not 0 < ofport < OFPP_MAX:
        return None
    return classify(interface["name"], ofport, interface.get("type", ""),
                    interface.get("options"), interface.get("external_ids"))
