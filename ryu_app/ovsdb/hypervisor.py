"""What a hypervisor's OVSDB replica says, in topology terms (pure)."""
from __future__ import annotations

import weakref

from ryu_app.ovsdb.protocol import Replica, Row, members, scalar
from topology.chassis import ChassisSpec, registration
from topology.graph import BridgeView
from topology.naming import PortInfo, classify

OFPP_MAX = 0xFF00   # ofports at or above are reserved (LOCAL is 0xFFFE)


def external_ids(replica: Replica) -> dict[str, str]:
    root = replica.root()
    return dict(root[1].get("external_ids", {})) if root else {}


def chassis_of(replica: Replica) -> ChassisSpec:
    """The chassis the database's Open_vSwitch row describes (ValueError if it does not)."""
    return registration(external_ids(replica))


# What each interface row was read as: a row is replaced, never changed in place, when the
# database changes it, so its PortInfo stands while the row object does.
_READ: weakref.WeakKeyDictionary[Replica, dict[str, tuple[Row, PortInfo | None]]] = (
    weakref.WeakKeyDictionary())


def bridge_views(replica: Replica) -> list[BridgeView]:
    """Every bridge with its datapath id and the ports that have an OpenFlow number."""
    read = _READ.setdefault(replica, {})
    views = []
    for _, bridge in replica.rows("Bridge"):
        datapath_id = scalar(bridge.get("datapath_id"))
        ports = []
        for port_uuid in members(bridge.get("ports", [])):
            port = replica.get("Port", port_uuid)
            interfaces = members(port.get("interfaces", [])) if port else []
            if len(interfaces) != 1:
                continue   # not yet in the replica, or a bond (not a VM or tunnel)
            interface = replica.get("Interface", interfaces[0])
            known = read.get(interfaces[0])
            if known is None or known[0] is not interface:
                known = read[interfaces[0]] = (interface, _port_info(interface))
            if known[1] is not None:
                ports.append(known[1])
        views.append(BridgeView(bridge["name"], int(datapath_id, 16) if datapath_id else None,
                                tuple(sorted(ports, key=lambda p: p.name))))
    return views


def _port_info(interface: Row | None) -> PortInfo | None:
    """An interface as a bridge port, if it has an OpenFlow number."""
    ofport = scalar(interface.get("ofport")) if interface else None
    if not isinstance(ofport, int) or not 0 < ofport < OFPP_MAX:
        return None
    return classify(interface["name"], ofport, interface.get("type", ""),
                    interface.get("options"), interface.get("external_ids"))


