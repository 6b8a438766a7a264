"""Read-only views of the controller for its users (pure): the desired flows of a bridge,
each with its table's name, its band and its provenance (``GET /v2.0/flows``)."""
from __future__ import annotations

from typing import Mapping

from ryu_app.model.errors import BadRequest, NotFound
from ryu_app.model.tenant import NetworkModel
from ryu_app.pipeline import render, tables
from ryu_app.pipeline.flow import Flow
from ryu_app.pipeline.planner import Group, Planner
from ryu_app.pipeline.security import MacMember
from topology.graph import Bridge, Topology


Desired = dict[int, dict[Group, list[Flow]]]   # dpid -> group -> flows


def desired(planner: Planner, held: Desired | None = None) -> Desired:
    """Each bridge's desired flows: what the controller sent it and it holds (``held``,
    which the tests show equal to a fresh computation), computed for the others."""
    held = held or {}
    return {dpid: held[dpid] if dpid in held else planner.bridge_groups(bridge)
            for dpid, bridge in planner.topology.bridges.items()}


def describe_group(planner: Planner, bridge: Bridge, group: Group) -> str:
    """Why a group of flows on a bridge exists, in words: the resource it stands for."""
    model, kind = planner.model, group[0]
    if kind == "base":
        return "start-up tables"
    if kind == "net":
        return f"network {_name(model, 'network', group[1])}"
    if kind == "dev":
        device = planner.topology.port(bridge, group[1])
        port = planner.device_port(bridge.chassis, device) if device else None
        return f"device {group[1]}" + (f" of port {_name(model, 'port', port['id'])}"
                                       if port else ", no bound port")
    if kind == "remote":
        port = model.records["port"].get(group[2])
        location = planner.port_location(port) if port else None
        where = f" on {location}" if location else ""
        return (f"remote port {_name(model, 'port', group[2])}{where} of network "
                f"{_name(model, 'network', group[1])}")
    if kind == "sg":
        return "security groups: the conntrack zones here"
    if kind == "member":
        member = group[2]
        address = (member if isinstance(member, str) else f"MAC {member.mac}"
                   if isinstance(member, MacMember) else "/".join(member))
        return f"security groups: member {address} of remote groups ({group[1]} rules)"
    if kind == "router":
        return f"router {_name(model, 'router', group[1])}"
    if kind == "fip":
        fip = model.records["floatingip"].get(group[1])
        return f"floating IP {fip['floating_ip_address'] if fip else group[1]}"
    return " ".join(map(str, group))


def _name(model: NetworkModel, kind: str, resource_id: str) -> str:
    """A resource as people name it: its name when it has one, else its id."""
    record = model.records[kind].get(resource_id)
    return record["name"] if record and record["name"] else resource_id


def find_bridge(topology: Topology, host: str | None, bridge: str | None) -> Bridge:
    """The bridge a user names: a hypervisor and a role (int, tun, phys) or bridge name."""
    if not host or not bridge:
        raise BadRequest("Both 'host' (a hypervisor) and 'bridge' (int, tun, phys or a "
                         "bridge name) are required.")
    if host not in topology.chassis:
        raise NotFound(f"Hypervisor {host} could not be found.")
    for candidate in topology.bridges_of(host):
        if bridge in (candidate.role, candidate.name):
            return candidate
    raise NotFound(f"Hypervisor {host} has no bridge {bridge}.")


def port_names(topology: Topology, bridge: Bridge) -> dict[int, str]:
    return {port.ofport: port.name for port in topology.ports(bridge.dpid)}


def flow_entry(planner: Planner, bridge: Bridge, group: Group | None, flow: Flow,
               names: Mapping[int, str]) -> dict:
    """A flow with its table's name, its band (and the band's purpose, ``why``), its
    builder and the group it belongs to."""
    table = tables.PIPELINE[bridge.role].get(flow.table)
    band = table.band(flow.priority, flow.builder) if table else None
    described = describe_group(planner, bridge, group) if group else None
    why = f"{band.name}: {band.purpose}" + (f" ({described})" if described else "") \
        if band else ""
    return {"table": flow.table, "table_name": tables.table_name(bridge.role, flow.table),
            "priority": flow.priority, "band": band.name if band else None,
            "flow": render.flow_text(flow, names), "builder": flow.builder,
            "group": described, "why": why}


def flows(planner: Planner, params: Mapping[str, str],
          held: Desired | None = None) -> list[dict]:
    """The desired flows of one bridge, in table and priority order (``held``: what the
    connected bridges hold, by group)."""
    bridge = find_bridge(planner.topology, params.get("host"), params.get("bridge"))
    names = port_names(planner.topology, bridge)
    groups = (held or {}).get(bridge.dpid) or planner.bridge_groups(bridge)
    found = [(group, flow) for group, group_flows in groups.items() for flow in group_flows]
    found.sort(key=lambda item: (item[1].table, -item[1].priority, str(item[1].match)))
    return [flow_entry(planner, bridge, group, flow, names) for group, flow in found]
