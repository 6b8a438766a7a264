"""Flows packed directly are byte for byte what Ryu's message classes make of them."""
import socket
import struct
import subprocess
import types

import pytest
import ryu.base.app_manager  # noqa: F401  (Ryu imports its controller in this order)
from ryu.ofproto import ofproto_v1_3, ofproto_v1_3_parser

from ryu_app import ofmsg
from ryu_app.pipeline import ofwire, render
from ryu_app.pipeline.flow import Flow, match
from tests.unit.fake_cloud import FakeCloud, every_kind_of_network

DATAPATH = types.SimpleNamespace(ofproto=ofproto_v1_3, ofproto_parser=ofproto_v1_3_parser,
                                 id=1)


def ryu_bytes(message) -> bytes:
    message.set_xid(0)
    message.serialize()
    return bytes(message.buf)


@pytest.fixture(scope="module")
def every_flow(tmp_path_factory):
    """Every flow of a cloud with VXLAN, GRE, VLAN and flat networks, address pairs, no
    port security, and a distributed router between a VXLAN and a VLAN network."""
    cloud = FakeCloud(tmp_path_factory.mktemp("ofwire"))
    every_kind_of_network(cloud)
    flows = [flow for state in cloud.engine.bridges.values()
             for group in state.groups.values() for flow in group.values()]
    assert len(flows) > 150
    return flows


def test_adds_are_ryus_bytes(every_flow):
    packed = 0
    for flow in every_flow:
        try:
            mine = ofwire.flow_add(flow, 0x1234)
        except ofwire.Unsupported:
            assert any(action[0] == "learn" for action in flow.actions), flow
            continue
        assert mine == ryu_flow_add(flow, 0x1234), flow
        packed += 1
    assert packed == len(every_flow) - 3   # one learn() flow per tunnel bridge


def test_strict_deletes_are_ryus_bytes(every_flow):
    for flow in every_flow:
        mine = ofwire.flow_delete(flow.table, flow.priority, flow.match, 0x1234)
        theirs = ofmsg.flow_delete(DATAPATH, flow.table, flow.priority, flow.match, 0x1234)
        assert mine == ryu_bytes(theirs), flow


def test_meter_mods_are_ryus_bytes():
    ofp, parser = ofproto_v1_3, ofproto_v1_3_parser
    flags = ofp.OFPMF_PKTPS | ofp.OFPMF_BURST | ofp.OFPMF_STATS
    band = [parser.OFPMeterBandDrop(rate=5, burst_size=5)]
    expected = b"".join(ryu_bytes(parser.OFPMeterMod(DATAPATH, command=command, flags=flags,
                                                     meter_id=0x10005, bands=band))
                        for command in (ofp.OFPMC_ADD, ofp.OFPMC_MODIFY))
    assert ofwire.meter_set(0x10005, 5) == expected
    assert ofwire.meter_delete(0x10005) == ryu_bytes(parser.OFPMeterMod(
        DATAPATH, command=ofp.OFPMC_DELETE, flags=flags, meter_id=0x10005))


def test_every_kind_of_network_has_metered_dhcp_flows(every_flow):
    """The parity above covers the meter instruction and output to the controller."""
    metered = [flow for flow in every_flow if any(a[0] == "meter" for a in flow.actions)]
    assert any(("output", "controller") in flow.actions for flow in metered)
    assert any(("goto", 77) in flow.actions for flow in metered)


# ------------------------------------------------------------------- conntrack

NICIRA = ("ct", "ct_clear", "ct_mark", "conjunction", "resubmit")   # not in ofmsg's Ryu path


def ryu_conntrack(parser, action: tuple):
    """What Ryu makes of a ("ct", ...), ("ct_clear",), ("ct_mark", zone, mark) or
    ("conjunction", id, k, n) action tuple (Ryu's clause is the wire's: k - 1), or of a
    ("resubmit", table)."""
    if action[0] == "resubmit":
        return parser.NXActionResubmitTable(in_port=0xFFF8, table_id=action[1])
    if action[0] == "ct_clear":
        return parser.NXActionCTClear()
    if action[0] == "conjunction":
        _, conj_id, clause, n_clauses = action
        return parser.NXActionConjunction(clause=clause - 1, n_clauses=n_clauses, id_=conj_id)
    if action[0] == "ct_mark":
        _, zone, mark = action
        return parser.NXActionCT(flags=1, zone_src="", zone_ofs_nbits=zone, recirc_table=255,
                                 alg=0, actions=[parser.OFPActionSetField(ct_mark=mark)])
    _, commit, zone, table, nat = action
    nested = []
    if nat is not None:
        kind, address, random = nat
        flags = {"": 0, "src": 1, "dst": 2}[kind] | (16 if random else 0)
        nested.append(parser.NXActionNAT(flags, range_ipv4_min=address or ""))
    return parser.NXActionCT(flags=int(commit), zone_src="", zone_ofs_nbits=zone,
                             recirc_table=255 if table is None else table, alg=0,
                             actions=nested)


def ryu_flow_add(flow, cookie: int) -> bytes:
    """Ryu's bytes of the flow: ofmsg.flow_add's, or for a flow with conntrack actions
    (ofmsg's Ryu path has none: ofwire packs them) the same layout with Ryu's NXActionCT
    and NXActionCTClear built here."""
    if not any(action[0] in NICIRA for action in flow.actions):
        return ryu_bytes(ofmsg.flow_add(DATAPATH, flow, cookie))
    ofp, parser = ofproto_v1_3, ofproto_v1_3_parser
    instructions = [parser.OFPInstructionMeter(action[1], ofp.OFPIT_METER)
                    for action in flow.actions if action[0] == "meter"]
    instructions.append(parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, [
        ryu_conntrack(parser, action) if action[0] in NICIRA
        else ofmsg._action(DATAPATH, action, cookie)
        for action in flow.actions if action[0] not in ("goto", "meter")]))
    instructions += [parser.OFPInstructionGotoTable(action[1])
                     for action in flow.actions if action[0] == "goto"]
    return ryu_bytes(parser.OFPFlowMod(
        DATAPATH, cookie=cookie, table_id=flow.table, command=ofp.OFPFC_ADD,
        priority=flow.priority, match=parser.OFPMatch(**dict(flow.match)),
        instructions=instructions))


IP = {"eth_type": 0x0800}
CONNTRACK_FLOWS = [
    # SNAT of a new connection to one address, random source port, then out
    Flow(30, 100, match(**IP, ct_state=(0x21, 0x21), ct_zone=7, reg6=3),
         (("ct", True, 7, None, ("src", "203.0.113.5", True)), ("output", 2))),
    # look a packet up in zone 9, un-NAT it by its connection, and carry on in table 40
    Flow(20, 90, match(**IP, in_port=4, ct_state=(0, 0x20)),
         (("ct", False, 9, 40, ("", None, False)),)),
    Flow(20, 91, match(**IP, in_port=5), (("ct", False, 9, 40, ("", "", False)),)),
    # DNAT a floating IP to its fixed address, commit, and continue in table 45
    Flow(25, 80, match(**IP, ip_proto=6, tcp_dst=22, ipv4_dst="198.51.100.7"),
         (("ct", True, 65535, 45, ("dst", "10.0.0.12", False)), ("goto", 50))),
    # send a packet through the tracker without NAT, then forget its state
    Flow(10, 70, match(**IP, ip_proto=1, icmpv4_type=3, icmpv4_code=4, tcp_src=1),
         (("ct", False, 0, 0, None),)),
    Flow(50, 60, match(**IP, ct_state=0x22, ct_zone=1),
         (("ct_clear",), ("output", "normal"))),
]


@pytest.mark.parametrize("flow", CONNTRACK_FLOWS)
def test_conntrack_adds_are_ryus_bytes(flow):
    assert ofwire.flow_add(flow, 0x1234) == ryu_flow_add(flow, 0x1234)


@pytest.mark.parametrize("flow", CONNTRACK_FLOWS)
def test_conntrack_deletes_are_ryus_bytes(flow):
    theirs = ofmsg.flow_delete(DATAPATH, flow.table, flow.priority, flow.match, 0x1234)
    assert ofwire.flow_delete(flow.table, flow.priority, flow.match, 0x1234) == \
        ryu_bytes(theirs)


def test_conntrack_actions_are_ryus_bytes():
    """Each action alone, as Ryu serializes it (padded to 8 bytes, NAT nested in CT)."""
    parser = ofproto_v1_3_parser
    for action in (("ct", True, 7, None, ("src", "203.0.113.5", True)),
                   ("ct", False, 9, 40, ("", None, False)),
                   ("ct", True, 1, 45, ("dst", "10.0.0.12", False)),
                   ("ct", True, 0, None, None), ("ct_clear",)):
        theirs = bytearray()
        ryu_conntrack(parser, action).serialize(theirs, 0)
        mine = ofwire._action(action)
        assert len(mine) % 8 == 0
        assert mine == bytes(theirs).ljust(len(mine), b"\0"), action


def test_conntrack_encoding_by_hand():
    """The fields where the NXM and Nicira headers say they are (from OVS's nicira-ext.h)."""
    ct = ofwire._action(("ct", True, 7, None, ("src", "203.0.113.5", True)))
    assert ct[:10] == bytes.fromhex("ffff 0030 00002320 0023")
    assert ct[10:24] == bytes.fromhex("0001 00000000 0007 ff 000000 0000")
    assert ct[24:] == bytes.fromhex("ffff 0018 00002320 0024 0000 0011 0001 cb007105"
                                    "00000000")
    assert ofwire._oxm("ct_state", (0x22, 0x3F)) == bytes.fromhex("0001d308 00000022 0000003f")
    assert ofwire._oxm("ct_zone", 7) == bytes.fromhex("0001d402 0007")


@pytest.mark.parametrize("action", [
    ("ct", True, 1, 255, None), ("ct", True, 65536, None, None),
    ("ct", True, 1, None, ("", "10.0.0.1", False)), ("ct", True, 1, None, ("", None, True)),
    ("ct", True, 1, None, ("src", None, False)), ("ct", True, 1, None, ("dst", "", False)),
    ("ct", True, 1, None, ("both", "1.1.1.1", False)),
])
def test_conntrack_mistakes_are_refused(action):
    with pytest.raises(ValueError) as raised:
        ofwire._action(action)
    assert not isinstance(raised.value, ofwire.Unsupported)   # not a job for Ryu either


def test_every_kind_of_network_has_conntrack_flows(every_flow):
    """The parity above covers each NAT the pipeline uses and the ct_state/ct_zone match."""
    nats = {action[4][0] for flow in every_flow for action in flow.actions
            if action[0] == "ct" and action[4] is not None}
    assert nats == {"", "src", "dst"}
    assert any(dict(flow.match).keys() >= {"ct_state", "ct_zone"} for flow in every_flow)


# ------------------------------------------------------------------- the firewall
# What Neutron's native OVS firewall needs (../shared/reference/neutron-sg-dhcp-north-south.md
# §1.4-1.5): reg5, ct_mark and conj_id matches, masked addresses and ports, conjunction
# clauses and ct(commit,exec(set_field:1->ct_mark)).  Open vSwitch 3.1 accepted each of
# these flow-mods as packed here and dumped them as FIREWALL_TEXT says.

FIREWALL_FLOWS = [
    # a remote group member, clause 1 of 2, and a port's protocol, clause 2 of two ids
    Flow(82, 70, match(**IP, reg6=3, ipv4_src="10.0.0.5"), (("conjunction", 7, 1, 2),)),
    Flow(82, 71, match(**IP, ip_proto=6, reg5=2),
         (("conjunction", 7, 2, 2), ("conjunction", 9, 2, 3))),
    # the conjunction's accept flow, with a masked mark, prefix and port range
    Flow(82, 70, match(**IP, conj_id=7, reg5=2, ct_mark=(1, 1), ip_proto=6,
                       ipv4_dst=("10.0.0.0", "255.255.255.0"), tcp_dst=(0x50, 0xFFF0)),
         (("output", 1),)),
    # an established connection no rule allows any more: committed with mark 1
    Flow(72, 40, match(**IP, ct_state=(0x22, 0x22), reg5=2), (("ct_mark", 3, 1),)),
    Flow(72, 50, match(**IP, ct_state=(0x20, 0x20), ct_mark=1)),
    Flow(60, 100, match(in_port=1), (("set_field", "reg5", 1), ("set_field", "reg6", 0x284),
                                     ("goto", 71))),
    Flow(82, 72, match(**IP, ip_proto=17, ipv4_src=("10.0.0.5", "255.255.255.0"),
                       udp_src=(0x400, 0xFC00), udp_dst=(53, 0xFFFF)), (("output", 2),)),
    Flow(82, 73, match(**IP, ip_proto=6, tcp_src=(0x1000, 0xF000)), (("output", 2),)),
    Flow(82, 74, match(**IP, ip_proto=132, sctp_dst=(0x1380, 0xFFC0)), (("output", 2),)),
    Flow(82, 75, match(**IP, ip_proto=132, sctp_src=5000, sctp_dst=5001), (("output", 2),)),
]


@pytest.mark.parametrize("flow", FIREWALL_FLOWS)
def test_firewall_adds_are_ryus_bytes(flow):
    assert ofwire.flow_add(flow, 0x1234) == ryu_flow_add(flow, 0x1234)


@pytest.mark.parametrize("flow", FIREWALL_FLOWS)
def test_firewall_deletes_are_ryus_bytes(flow):
    theirs = ofmsg.flow_delete(DATAPATH, flow.table, flow.priority, flow.match, 0x1234)
    assert ofwire.flow_delete(flow.table, flow.priority, flow.match, 0x1234) == \
        ryu_bytes(theirs)


def test_firewall_actions_are_ryus_bytes():
    parser = ofproto_v1_3_parser
    for action in (("conjunction", 7, 1, 2), ("conjunction", 0xFFFFFFFF, 64, 64),
                   ("ct_mark", 3, 1), ("ct_mark", 65535, 0xFFFFFFFF), ("ct_mark", 0, 0)):
        theirs = bytearray()
        ryu_conntrack(parser, action).serialize(theirs, 0)
        assert ofwire._action(action) == bytes(theirs), action
    assert ofwire._action(("set_field", "reg5", 2)) == ryu_action(
        parser.OFPActionSetField(reg5=2))


def ryu_action(action) -> bytes:
    buf = bytearray()
    action.serialize(buf, 0)
    return bytes(buf)


def test_firewall_encoding_by_hand():
    """What ovs-ofctl -O OpenFlow13 sent to OVS 3.1 for conjunction(7,1/2),
    conjunction(9,2/3) and ct(commit,zone=3,exec(set_field:0x1->ct_mark)): the clause
    goes on the wire from 0 (1/2 is 0, 2/3 is 1), the mark as a nested OF1.3 set_field."""
    assert ofwire._action(("conjunction", 7, 1, 2)) == bytes.fromhex(
        "ffff 0010 00002320 0022 00 02 00000007")
    assert ofwire._action(("conjunction", 9, 2, 3)) == bytes.fromhex(
        "ffff 0010 00002320 0022 01 03 00000009")
    assert ofwire._action(("ct_mark", 3, 1)) == bytes.fromhex(
        "ffff 0028 00002320 0023 0001 00000000 0003 ff 000000 0000"
        "0019 0010 0001d604 00000001 00000000")
    assert ofwire._oxm("reg5", 2) == bytes.fromhex("00010a04 00000002")
    assert ofwire._oxm("conj_id", 7) == bytes.fromhex("00014a04 00000007")
    assert ofwire._oxm("ct_mark", (1, 1)) == bytes.fromhex("0001d708 00000001 00000001")
    assert ofwire._oxm("tcp_dst", (0x50, 0xFFF0)) == bytes.fromhex("80001d04 0050 fff0")


def test_a_masked_value_goes_out_within_its_mask():
    """OVS refuses a value with bits the mask ignores (OFPBMC_BAD_WILDCARDS, "1-bits in
    value for bits wildcarded by the mask"); Ryu masks it, and so does ofwire."""
    assert ofwire._oxm("ipv4_src", ("10.0.0.5", "255.255.255.0")) == bytes.fromhex(
        "80001708 0a000000 ffffff00")
    assert ofwire._oxm("udp_src", (0x4FF, 0xFC00)) == bytes.fromhex("80001f04 0400 fc00")


@pytest.mark.parametrize("actions", [
    (("conjunction", 7, 1, 1),), (("conjunction", 7, 0, 2),), (("conjunction", 7, 3, 2),),
    (("conjunction", 1 << 32, 1, 2),), (("conjunction", 7, 1, 65),),
    (("conjunction", 7, 1, 2), ("goto", 90)), (("conjunction", 7, 1, 2), ("output", 1)),
    (("ct_mark", 3, 1 << 32),), (("ct_mark", 65536, 1),),
])
def test_firewall_mistakes_are_refused(actions):
    """What OVS would refuse (NXBAC_BAD_CONJUNCTION for the conjunctions: a clause out of
    1..n, n < 2, other actions beside them) is a ValueError, not a job for Ryu."""
    with pytest.raises(ValueError) as raised:
        ofwire.flow_add(Flow(82, 70, match(**IP), actions), 0)
    assert not isinstance(raised.value, ofwire.Unsupported)


FIREWALL_TEXT = [   # as OVS 3.1's dump-flows printed these actions and matches
    "actions=conjunction(7,1/2)",
    "actions=conjunction(7,2/2),conjunction(9,2/3)",
    "conj_id=7,ct_mark=0x1/0x1,", "actions=ct(commit,zone=3,exec(set_field:0x1->ct_mark))",
    "ct_mark=0x1,", "reg5=0x2", "actions=set_field:0x1->reg5,set_field:0x284->reg6,",
]


def test_firewall_flows_read_as_ovs_ofctl_dumps_them():
    text = "\n".join(render.flow_text(flow) for flow in FIREWALL_FLOWS)
    for expected in FIREWALL_TEXT:
        assert expected in text, expected
    assert "reg6=0x3 " in text   # registers in hex, as ovs-ofctl shows them


# ------------------------------------------------------------------ packet-outs

@pytest.mark.parametrize("actions", [
    (("output", 5),),
    # a filtered port's ingress, which a packet-out reaches by resubmit
    (("set_field", "reg5", 5), ("set_field", "reg6", 3), ("resubmit", 81)),
])
def test_packet_outs_are_ryus_bytes(actions):
    parser, ofp = ofproto_v1_3_parser, ofproto_v1_3
    theirs = [ryu_conntrack(parser, action) if action[0] == "resubmit" else
              ofmsg._action(DATAPATH, action, 0) for action in actions]
    frame = bytes(range(60))
    message = parser.OFPPacketOut(DATAPATH, buffer_id=ofp.OFP_NO_BUFFER,
                                  in_port=ofp.OFPP_CONTROLLER, actions=theirs, data=frame)
    assert ofwire.packet_out(actions, frame) == ryu_bytes(message)


def ofctl_sends(*args: str) -> list[bytes]:
    """The OpenFlow messages ``ovs-ofctl -O OpenFlow13 ARGS`` sends a switch (here a
    listening socket that answers its hello), xids zeroed, hellos and barriers left out."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        ofctl = subprocess.Popen(["ovs-ofctl", "-O", "OpenFlow13", args[0],
                                  f"tcp:127.0.0.1:{server.getsockname()[1]}", *args[1:]],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        connection, _ = server.accept()
        with connection:
            connection.sendall(struct.pack("!BBHI", 4, 0, 8, 1))
            connection.settimeout(1.0)
            data = b""
            try:
                while chunk := connection.recv(4096):
                    data += chunk
            except TimeoutError:
                pass
        ofctl.kill()
        ofctl.wait()
    messages = []
    while len(data) >= 8:
        kind, length = data[1], int.from_bytes(data[2:4], "big")
        if kind not in (0, 20):   # hello, barrier request
            messages.append(data[:4] + bytes(4) + data[8:length])
        data = data[length:]
    return messages


def test_a_flush_of_an_addresss_connections_is_what_ovs_ofctl_sends():
    ours = ofmsg.ct_flush_address(7, "10.0.0.5")
    assert ours == b"".join(ofctl_sends("ct-flush", "zone=7", "ct_nw_src=10.0.0.5") +
                            ofctl_sends("ct-flush", "zone=7", "ct_nw_dst=10.0.0.5"))
    assert ofmsg.ct_flush_zone(7) == b"".join(ofctl_sends("ct-flush-zone", "7"))
