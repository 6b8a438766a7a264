"""Flows packed directly are byte for byte what Ryu's message classes make of them."""
import types

import pytest
import ryu.base.app_manager  # noqa: F401  (Ryu imports its controller in this order)
from ryu.ofproto import ofproto_v1_3, ofproto_v1_3_parser

from ryu_app import ofmsg
from ryu_app.pipeline import ofwire
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
        assert mine == ryu_bytes(ofmsg.flow_add(DATAPATH, flow, 0x1234)), flow
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
