"""What a hypervisor's OVSDB replica says, in topology terms (pure)."""
from __future__ import annotations

from ryu_app.ovsdb.protocol import Replica, members, scalar
from topology.chassis import ChassisSpec, registration
from topology.graph import BridgeView
from topology.naming import classify

OFPP_MAX = 0xFF00   # ofports at or above are reserved (LOCAL is 0xFFFE)


def external_ids(replica: Replica) -> dict[str, str]:
    root = replica.root()
    return dict(root[1].get("external_ids", {})) if root else {}


def chassis_of(replica: Replica) -> ChassisSpec:
    """The chassis the database's Open_vSwitch row describes (ValueError if it does not)."""
    return registration(external_ids(replica))


def bridge_views(replica: Replica) -> list[BridgeView]:
    """Every bridge with its datapath id and the ports that have an OpenFlow number."""
    views = []
    for _, bridge in replica.rows("Bridge"):
        datapath_id = scalar(bridge.get("datapath_id"))
        ports = []
        for port_uuid in members(bridge.get("ports", [])):
            port = replica.get("Port", port_uuid)
            interfaces = members(port.get("interfaces", [])) if port else []
            interface = replica.get("Interface", interfaces[0]) if len(interfaces) == 1 else None
            if interface is None:
                continue   # not yet in the replica, or a bond (not a VM or tunnel)
            ofport = scalar(interface.get("ofport"))
            if isinstance(ofport, int) and 0 < ofport < OFPP_MAX:
                ports.append(classify(interface["name"], ofport, interface.get("type", ""),
                                      interface.get("options"), interface.get("external_ids")))
        views.append(BridgeView(bridge["name"], int(datapath_id, 16) if datapath_id else None,
                                tuple(sorted(ports, key=lambda p: p.name))))
    return views


