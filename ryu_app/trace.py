"""``trace``, as ``ovn-trace`` does for OVN (pure): the path of a packet from a VM through
every table it hits on every bridge and hypervisor, in the flows the controller wants
the switches to hold, each step with its table's name and why the flow is there.

The packet is what the VM would send: ARP for the destination, an IPv4 packet to the
destination's MAC on the same subnet and to the gateway's MAC beyond it, or (``dhcp``)
the DISCOVER it broadcasts when it boots.  The walk is
the offline simulator's (``pipeline/simulator.py``) over a fabric built from the
topology and the desired flows; NORMAL switching uses the MAC tables a converged switch
would have learned (each bound port's MAC where it lives).
"""
from __future__ import annotations

import ipaddress
from typing import Any, Callable, Iterable, Mapping

from ryu_app.model.errors import BadRequest, Conflict, NotFound
from ryu_app.model.segments import PROVIDER_TYPES
from ryu_app.model.tenant import ROUTER_INTERFACE_OWNERS, is_bound_vm_port
from ryu_app.pipeline import render, tables
from ryu_app.pipeline.flow import OFPVID_PRESENT
from ryu_app.pipeline.planner import Planner
from ryu_app.pipeline.security_planner import PORT_FIELDS
from ryu_app.pipeline.simulator import (BROADCAST, IP_PROTOS, Fabric, Result, SimBridge,
                                        arp_request, ipv4, simulate)
from ryu_app.views import Desired, desired, flow_entry, port_names
from topology.graph import Bridge
from topology.naming import TUNNEL_TYPES

# the ones dport applies to: those whose destination port a security rule can match
PORT_PROTOCOLS = tuple(name for name, number in IP_PROTOS.items() if number in PORT_FIELDS)
PROTOCOLS = ("icmp", *PORT_PROTOCOLS, "arp", "dhcp")
BROADCAST_IP = "255.255.255.255"   # where a DHCP client's DISCOVER goes


TagsOf = Callable[[str, Iterable[str]], dict[str, int]]   # chassis, devices -> tags


def fabric(planner: Planner, wanted: Desired, tags_of: TagsOf) -> Fabric:
    """Every bridge the topology knows, holding its desired flows, its VM devices with
    the access tags ``tags_of`` gives (the engine's: a shut device's is the dead VLAN)."""
    topology = planner.topology
    bridges = []
    for bridge in topology.bridges.values():
        flows = [flow for group_flows in wanted.get(bridge.dpid, {}).values()
                 for flow in group_flows]
        tags = (tags_of(bridge.chassis, [device.name for device in planner.vm_devices(bridge)])
                if bridge.role == "int" else {})
        bridges.append(SimBridge(bridge.dpid, bridge.chassis, bridge.name, bridge.role, flows,
                                 topology.ports(bridge.dpid), tags, bridge.physnet,
                                 _learned(planner, bridge)))
    return Fabric(bridges, {name: spec.tunnel_ip for name, spec in topology.chassis.items()})


def _learned(planner: Planner, bridge: Bridge) -> dict[tuple[int, str], int]:
    """NORMAL's MAC table on br-int and br-ethX once traffic has flowed: each bound port
    of a network the hypervisor serves, at its device here, else where its frames come
    in from (the patch to br-tun, or to the physical network's bridge)."""
    topology, model = planner.topology, planner.model
    found: dict[tuple[int, str], int] = {}
    if bridge.role not in ("int", "phys"):
        return found
    for network_id in planner.local_vlans.networks_on(bridge.chassis):
        network = model.records["network"].get(network_id)
        if network is None:
            continue
        kind = network["provider:network_type"]
        phys = topology.bridge(bridge.chassis, "phys", network["provider:physical_network"])
        if bridge.role == "int":
            vid = planner.local_vlans.get(bridge.chassis, network_id)
            towards = topology.bridge(bridge.chassis, "tun") if kind in TUNNEL_TYPES else phys
        elif bridge == phys and kind in PROVIDER_TYPES:
            vid = network["provider:segmentation_id"] or 0
            towards = topology.bridge(bridge.chassis, "int")
        else:
            continue
        patch = topology.patch_port(bridge, towards) if towards else None
        uplink = next((p for p in topology.ports(bridge.dpid) if p.kind == "other"), None)
        for chassis, ports in planner.ports_by_chassis(network_id).items():
            for port in ports:
                device = topology.devices_of(port["id"]).get(bridge.chassis)
                if bridge.role == "int":
                    out = device if chassis == bridge.chassis else patch
                else:
                    out = patch if chassis == bridge.chassis else uplink
                if out is not None and vid is not None:
                    found[(vid, port["mac_address"].lower())] = out.ofport
    return found


def packet_from(planner: Planner, port: dict, destination: str, protocol: str,
                dport: int | None) -> dict:
    """What the port's VM sends to ``destination``: ARP for it, or IPv4 to its MAC (same
    subnet) or to the gateway's (another subnet)."""
    model = planner.model
    if protocol == "dhcp":   # a client without an address yet
        return ipv4(port["mac_address"], BROADCAST, "0.0.0.0", destination, "udp",
                    udp_src=68, udp_dst=67)
    source = _address_on(model, port, destination)
    if protocol == "arp":
        return arp_request(port["mac_address"], source["ip_address"], destination)
    subnet = model.records["subnet"][source["subnet_id"]]
    if ipaddress.ip_address(destination) in ipaddress.ip_network(subnet["cidr"]):
        holder = model.ip_holder.get((subnet["id"], int(ipaddress.ip_address(destination))))
        if holder is None:
            raise NotFound(f"No port holds {destination} on subnet {subnet['id']}; trace "
                           f"its ARP with proto=arp.")
        dst_mac = model.records["port"][holder]["mac_address"]
    else:
        dst_mac = _gateway_mac(model, subnet)
    fields: dict[str, Any] = {}
    if dport is not None and protocol in PORT_PROTOCOLS:
        fields[PORT_FIELDS[IP_PROTOS[protocol]]] = dport
    return ipv4(port["mac_address"], dst_mac, source["ip_address"], destination, protocol,
                **fields)


def _address_on(model, port: dict, destination: str) -> dict:
    """The port's fixed IP to send from: on the destination's subnet if it has one."""
    addresses = [ip for ip in port["fixed_ips"] if ":" not in ip["ip_address"]]
    if not addresses:
        raise Conflict(f"Port {port['id']} has no IPv4 address to send from.")
    for ip in addresses:
        cidr = model.records["subnet"][ip["subnet_id"]]["cidr"]
        if ipaddress.ip_address(destination) in ipaddress.ip_network(cidr):
            return ip
    return addresses[0]


def _gateway_mac(model, subnet: dict) -> str:
    gateway = subnet["gateway_ip"]
    holder = gateway and model.ip_holder.get((subnet["id"], int(ipaddress.ip_address(gateway))))
    interface = model.records["port"].get(holder) if holder else None
    if interface is None or interface["device_owner"] not in ROUTER_INTERFACE_OWNERS:
        raise Conflict(f"Subnet {subnet['id']} has no router interface: nothing routes "
                       f"off it.")
    return interface["mac_address"]


def trace(planner: Planner, params: Mapping[str, str], held: Desired | None,
          tags_of: TagsOf) -> dict:
    """``GET /v2.0/trace?port=PORT&dst=IP[&proto=icmp|tcp|udp|sctp|arp|dhcp][&dport=N]`` (a
    DHCP DISCOVER goes to 255.255.255.255 unless ``dst`` says otherwise); ``held``: the
    flows connected bridges hold, by group; ``tags_of``: the VM devices' access tags."""
    port = _port(planner, params.get("port"))
    protocol = params.get("proto", "icmp")
    if protocol not in PROTOCOLS:
        raise BadRequest(f"'proto' must be one of {', '.join(PROTOCOLS)}.")
    destination = params.get("dst") or (BROADCAST_IP if protocol == "dhcp" else None)
    try:
        ipaddress.IPv4Address(destination or "")
    except ValueError:
        raise BadRequest("'dst' must be an IPv4 address.") from None
    dport = params.get("dport")
    if dport is not None and not (dport.isascii() and dport.isdigit() and len(dport) <= 5
                                  and 0 < int(dport) < 65536):
        raise BadRequest("'dport' must be a port number.")
    host = port["binding:host_id"]
    device = planner.topology.devices_of(port["id"]).get(host)
    if device is None:
        raise Conflict(f"Port {port['id']} has no device on {host}'s br-int.")
    packet = packet_from(planner, port, destination, protocol, int(dport) if dport else None)
    wanted = desired(planner, held)
    result = simulate(fabric(planner, wanted, tags_of), host, "br-int", device.name, packet)
    return explain(planner, wanted, result, packet)


def _port(planner: Planner, wanted: str | None) -> dict:
    if not wanted:
        raise BadRequest("'port' (a port's id or name) is required.")
    ports = planner.model.records["port"]
    port = ports.get(wanted) or next((p for p in ports.values() if p["name"] == wanted), None)
    if port is None:
        raise NotFound(f"Port {wanted} could not be found.")
    if not is_bound_vm_port(port):
        raise Conflict(f"Port {wanted} is not a VM port plugged on a hypervisor.")
    return port


def explain(planner: Planner, wanted: Desired, result: Result, packet: dict) -> dict:
    """The walk as data and as text: each lookup with its table's name, band, flow,
    builder and group, then where the packet and its copies ended up."""
    groups = {(dpid, id(flow)): group for dpid, bridge_groups in wanted.items()
              for group, flows in bridge_groups.items() for flow in flows}
    steps, lines = [], [f"packet: {_packet_text(packet)}"]
    hops = {hop.after: hop for hop in result.hops}
    for number, step in enumerate(result.steps):
        if number in hops:
            hop = hops[number]
            lines.append(f"{hop.chassis} {hop.bridge}, in from {hop.port}")
        bridge = _bridge(planner, step.chassis, step.bridge)
        names = port_names(planner.topology, bridge)
        entry = _step_entry(planner, bridge, step, groups.get((bridge.dpid, id(step.flow))),
                            names)
        steps.append(entry)
        hit = (render.flow_text(step.flow, names, with_table=False) if step.flow
               else "no flow matches (table miss)")
        lines.append(f"  table {entry['table']} {entry['table_name']}: {hit}")
        if entry["why"]:
            lines.append(f"      why: {entry['why']}")
        lines += [f"      note: {note}" for note in step.notes]
    outcomes = [_outcome_entry(planner, outcome) for outcome in result.outcomes]
    lines += [f"=> {outcome['text']}" for outcome in outcomes]
    return {"packet": packet, "steps": steps, "outcomes": outcomes, "text": "\n".join(lines)}


def _bridge(planner: Planner, chassis: str, name: str) -> Bridge:
    return next(b for b in planner.topology.bridges_of(chassis) if b.name == name)


def _step_entry(planner: Planner, bridge: Bridge, step, group,
                names: Mapping[int, str]) -> dict:
    """A lookup: where, and the flow it hit with its provenance (none: a table miss)."""
    found = flow_entry(planner, bridge, group, step.flow, names) if step.flow else {
        "table": step.table, "table_name": tables.table_name(bridge.role, step.table),
        "priority": None, "band": None, "flow": None, "builder": None, "group": None,
        "why": ""}
    return {"hypervisor": step.chassis, "bridge": step.bridge, **found, "notes": step.notes}


def _outcome_entry(planner: Planner, outcome) -> dict:
    where = f"{outcome.chassis} {outcome.bridge}"
    if outcome.kind == "delivered":
        port = _port_of_device(planner, outcome.chassis, outcome.port)
        text = f"delivered to {outcome.port} on {outcome.chassis}" + (
            f" (port {port['name'] or port['id']}, {_addresses(port)})" if port else "")
    elif outcome.kind == "dropped":
        text = f"dropped on {where} in table {outcome.table}: {outcome.reason}"
    elif outcome.kind == "physical":
        text = f"onto physical network {_physnet(planner, outcome)} from {where}"
    elif outcome.kind == "controller":
        text = f"to the controller from {where} table {outcome.table}: {outcome.reason}"
    else:
        text = f"{outcome.kind} at {where} {outcome.port or ''}".rstrip()
    return {"kind": outcome.kind, "hypervisor": outcome.chassis, "bridge": outcome.bridge,
            "port": outcome.port, "table": outcome.table, "reason": outcome.reason,
            "packet": outcome.packet, "text": f"{text}: {_packet_text(outcome.packet)}"}


def _port_of_device(planner: Planner, chassis: str, device_name: str | None) -> dict | None:
    bridge = planner.topology.bridge(chassis, "int")
    device = planner.topology.port(bridge, device_name) if bridge and device_name else None
    return planner.device_port(chassis, device) if device else None


def _physnet(planner: Planner, outcome) -> str:
    bridge = _bridge(planner, outcome.chassis, outcome.bridge)
    return bridge.physnet or "?"


def _addresses(port: dict) -> str:
    return ", ".join([port["mac_address"]] + [ip["ip_address"] for ip in port["fixed_ips"]])


def _packet_text(packet: Mapping[str, Any]) -> str:
    shown = []
    for field in ("vlan_vid", "eth_src", "eth_dst", "eth_type", "arp_op", "arp_spa", "arp_sha",
                  "arp_tpa", "arp_tha", "ipv4_src", "ipv4_dst", "ip_proto", "icmpv4_type",
                  *PORT_FIELDS.values(), "nw_ttl", "tunnel_id"):
        if field in packet and not (field == "vlan_vid" and
                                    not packet[field] & OFPVID_PRESENT):
            shown.append(f"{field}={render.value(field, packet[field])}")
    return ",".join(shown) or "(empty)"

