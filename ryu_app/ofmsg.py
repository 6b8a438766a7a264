"""Flows as data -> Ryu OpenFlow 1.3 messages (with Nicira extensions)."""
from __future__ import annotations

import ipaddress
import struct

from ryu.controller.controller import Datapath

from ryu_app.pipeline import ofwire
from ryu_app.pipeline.flow import Flow
from ryu_app.reconciler import FlowMods, learned_cookie

ALL_ONES = 0xFFFFFFFFFFFFFFFF
FIELD_BITS = {"eth_src": 48, "eth_dst": 48, "arp_sha": 48, "arp_tha": 48,
              "arp_spa": 32, "arp_tpa": 32, "ipv4_src": 32, "ipv4_dst": 32}


def batch(datapath: Datapath, mods: FlowMods):
    """The bytes of a batch of flow-mods (deletes first: a key another group frees in the
    same batch may be added back) and a barrier after them; the barrier's xid."""
    payload = [ofwire.meter_set(meter_id, rate) for meter_id, rate in mods.meter_sets]
    payload += [ofwire.flow_delete(flow.table, flow.priority, flow.match, mods.cookie)
                for flow in mods.deletes]
    for flow in mods.adds:
        try:
            payload.append(ofwire.flow_add(flow, mods.cookie))
        except ofwire.Unsupported:   # learn(): Ryu packs it
            message = flow_add(datapath, flow, mods.cookie)
            datapath.set_xid(message)
            message.serialize()
            payload.append(bytes(message.buf))
    payload += [ofwire.meter_delete(meter_id) for meter_id in mods.meter_deletes]
    barrier = datapath.ofproto_parser.OFPBarrierRequest(datapath)
    datapath.set_xid(barrier)
    barrier.serialize()
    return b"".join(payload) + bytes(barrier.buf), barrier.xid


def flow_add(datapath: Datapath, flow: Flow, cookie: int):
    """OFPFC_ADD: installs the flow, or replaces one with the same table, priority, match."""
    ofp, parser = datapath.ofproto, datapath.ofproto_parser
    return parser.OFPFlowMod(
        datapath, cookie=cookie, table_id=flow.table, command=ofp.OFPFC_ADD,
        priority=flow.priority, match=parser.OFPMatch(**dict(flow.match)),
        instructions=_instructions(datapath, flow, cookie))


def flow_delete(datapath: Datapath, table: int, priority: int, match, cookie: int):
    """OFPFC_DELETE_STRICT of exactly one flow, and only if it carries ``cookie``."""
    ofp, parser = datapath.ofproto, datapath.ofproto_parser
    if not isinstance(match, parser.OFPMatch):
        match = parser.OFPMatch(**dict(match))
    return parser.OFPFlowMod(
        datapath, cookie=cookie, cookie_mask=ALL_ONES, table_id=table,
        command=ofp.OFPFC_DELETE_STRICT, priority=priority, match=match,
        out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY)


def forget_vlan(datapath: Datapath, table: int, vlan_id: int, cookie: int):
    """OFPFC_DELETE (not strict) of the flows of the table that the bridge learned
    (``cookie`` is its own) for the 12-bit VLAN id: learned flows match vlan_tci=VID/0x0fff,
    at least as specific as this match; the controller's own flows there carry another
    cookie and stay."""
    ofp, parser = datapath.ofproto, datapath.ofproto_parser
    return parser.OFPFlowMod(
        datapath, cookie=learned_cookie(cookie), cookie_mask=ALL_ONES, table_id=table,
        command=ofp.OFPFC_DELETE, match=parser.OFPMatch(vlan_vid=(vlan_id, 0x0FFF)),
        out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY)


def _instructions(datapath: Datapath, flow: Flow, cookie: int) -> list:
    ofp, parser = datapath.ofproto, datapath.ofproto_parser
    apply, instructions = [], []
    meters = []
    for action in flow.actions:
        if action[0] == "goto":
            instructions.append(parser.OFPInstructionGotoTable(action[1]))
        elif action[0] == "meter":
            meters.append(parser.OFPInstructionMeter(action[1], ofp.OFPIT_METER))
        else:
            apply.append(_action(datapath, action, cookie))
    if apply:
        instructions.insert(0, parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, apply))
    return meters + instructions


def _action(datapath: Datapath, action: tuple, cookie: int):
    ofp, parser = datapath.ofproto, datapath.ofproto_parser
    kind, args = action[0], action[1:]
    if kind == "output":
        if args[0] == "controller":
            return parser.OFPActionOutput(ofp.OFPP_CONTROLLER, ofp.OFPCML_NO_BUFFER)
        port = {"in_port": ofp.OFPP_IN_PORT, "normal": ofp.OFPP_NORMAL}.get(args[0], args[0])
        return parser.OFPActionOutput(port, 0)
    if kind == "pop_vlan":
        return parser.OFPActionPopVlan()
    if kind == "dec_ttl":
        return parser.OFPActionDecNwTtl()
    if kind == "push_vlan":
        return parser.OFPActionPushVlan(args[0])
    if kind == "set_field":
        return parser.OFPActionSetField(**{args[0]: args[1]})
    if kind == "move":
        return parser.NXActionRegMove(src_field=args[0], dst_field=args[1],
                                      n_bits=FIELD_BITS[args[0]])
    if kind == "learn":
        table, priority, hard_timeout, specs = args
        return parser.NXActionLearn(table_id=table, priority=priority,
                                    cookie=learned_cookie(cookie),
                                    hard_timeout=hard_timeout,
                                    specs=[_learn_spec(parser, spec) for spec in specs])
    raise ValueError(f"unknown action {action!r}")


def _learn_spec(parser, spec: tuple):
    kind, src, dst, n_bits = spec
    src = (src, 0) if isinstance(src, str) else src
    if kind == "match":
        return parser.NXFlowSpecMatch(src=src, dst=(dst, 0), n_bits=n_bits)
    if kind == "load":
        return parser.NXFlowSpecLoad(src=src, dst=(dst, 0), n_bits=n_bits)
    return parser.NXFlowSpecOutput(src=src, dst="", n_bits=n_bits)


def packet_in_reasons(datapath: Datapath):
    """OFPT_SET_ASYNC: packet-ins for frames whose TTL ran out (OVS leaves them off by
    default) and for frames a flow sends to the controller (DHCP requests), not for table
    misses; port status as before; no flow-removed."""
    ofp, parser = datapath.ofproto, datapath.ofproto_parser
    every_port_reason = ((1 << ofp.OFPPR_ADD) | (1 << ofp.OFPPR_DELETE)
                         | (1 << ofp.OFPPR_MODIFY))
    reasons = (1 << ofp.OFPR_INVALID_TTL) | (1 << ofp.OFPR_ACTION)
    return parser.OFPSetAsync(datapath, packet_in_mask=[reasons, 0],
                              port_status_mask=[every_port_reason, every_port_reason],
                              flow_removed_mask=[0, 0])


def controller_meter(datapath: Datapath, packets_per_second: int) -> list:
    """The switch's controller meter: packet-ins beyond this rate are dropped on the switch,
    so VMs cannot flood the controller.  Deleted first, as ADD fails if it exists."""
    ofp, parser = datapath.ofproto, datapath.ofproto_parser
    return [parser.OFPMeterMod(datapath, command=ofp.OFPMC_DELETE, meter_id=ofp.OFPM_CONTROLLER),
            parser.OFPMeterMod(datapath, command=ofp.OFPMC_ADD, flags=ofp.OFPMF_PKTPS,
                               meter_id=ofp.OFPM_CONTROLLER,
                               bands=[parser.OFPMeterBandDrop(rate=packets_per_second)])]


NXT_CT_FLUSH_ZONE = 29
NXT_CT_FLUSH = 32                   # Open vSwitch 3.1 and later
NXT_CT_ORIG_TUPLE, NXT_CT_ZONE_ID = 0, 2
NXT_CT_TUPLE_SRC, NXT_CT_TUPLE_DST = 0, 1


def ct_flush_zone(zone: int) -> bytes:
    """Nicira's NXT_CT_FLUSH_ZONE (Ryu has no class for it): every conntrack entry of the
    zone goes, as ``ovs-appctl dpctl/flush-conntrack zone=Z`` would."""
    return struct.pack("!BBHIII6xH", 0x04, 4, 24, 0, 0x00002320, NXT_CT_FLUSH_ZONE, zone)


def ct_flush_address(zone: int, address: str) -> bytes:
    """Two Nicira NXT_CT_FLUSH messages (Ryu has no class for it): the zone's conntrack
    entries whose original direction comes from ``address``, then those that go to it,
    as ``ovs-ofctl ct-flush BR zone=Z ct_nw_src=A`` and ``... ct_nw_dst=A`` send them
    (a partial tuple matches every entry with those fields)."""
    mapped = bytes(10) + b"\xff\xff" + ipaddress.IPv4Address(address).packed   # IPv6-mapped
    return b"".join(_ct_flush(zone, side, mapped) for side in (NXT_CT_TUPLE_SRC,
                                                                NXT_CT_TUPLE_DST))


def _ct_flush(zone: int, side: int, mapped: bytes) -> bytes:
    inner = struct.pack("!HH", side, 4 + len(mapped)) + mapped + bytes(4)   # padded to 8
    tuple_property = struct.pack("!HH4x", NXT_CT_ORIG_TUPLE, 8 + len(inner)) + inner
    body = bytes(8) + tuple_property + struct.pack("!HHH2x", NXT_CT_ZONE_ID, 8, zone)
    return struct.pack("!BBHIII", 0x04, 4, 16 + len(body), 0, 0x00002320, NXT_CT_FLUSH) + body
