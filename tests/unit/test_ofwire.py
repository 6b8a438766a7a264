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
