"""Flows packed directly are byte for byte what Ryu's message classes make of them."""
import types

import pytest
import ryu.base.app_manager  # noqa: F401  (Ryu imports its controller in this order)
from ryu.ofproto import ofproto_v1_3, ofproto_v1_3_parser

from ryu_app import ofmsg
from ryu_app.pipeline import ofwire
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

def ryu_conntrack(parser, action: tuple):
    """What Ryu makes of a ("ct", ...) or ("ct_clear",) action tuple."""
    if action[0] == "ct_clear":
        return parser.NXActionCTClear()
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
    if not any(action[0] in ("ct", "ct_clear") for action in flow.actions):
        return ryu_bytes(ofmsg.flow_add(DATAPATH, flow, cookie))
    ofp, parser = ofproto_v1_3, ofproto_v1_3_parser
    instructions = [parser.OFPInstructionMeter(action[1], ofp.OFPIT_METER)
                    for action in flow.actions if action[0] == "meter"]
    instructions.append(parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, [
        ryu_conntrack(parser, action) if action[0] in ("ct", "ct_clear")
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
