"""Flows packed directly are byte for byte what Ryu's message classes make of them."""
import types

import pytest
import ryu.base.app_manager  # noqa: F401  (Ryu imports its controller in this order)
from ryu.ofproto import ofproto_v1_3, ofproto_v1_3_parser

from ryu_app import ofmsg
from ryu_app.pipeline import ofwire
from tests.unit.test_planner import Cloud

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
    cloud = Cloud(tmp_path_factory.mktemp("ofwire"))
    blue, blue_subnet = cloud.network()
    green, _ = cloud.network(network_type="vlan", physical_network="physnet1",
                             segmentation_id=150)
    green_subnet = cloud.create("subnet", network_id=green["id"], ip_version=4,
                                cidr="10.1.0.0/24")
    flat, _ = cloud.network(network_type="flat", physical_network="physnet1")
    gre, _ = cloud.network(network_type="gre")
    router = cloud.create("router", name="r")
    for subnet in (blue_subnet, green_subnet):
        cloud.model.add_router_interface(router["id"], {"subnet_id": subnet["id"]})
    cloud.written()
    cloud.vm(blue, "n0", 5, allowed_address_pairs=[{"ip_address": "10.0.0.128/25"}])
    cloud.vm(blue, "n1", 5)
    cloud.vm(green, "n1", 6, port_security_enabled=False)
    cloud.vm(flat, "n2", 5)
    cloud.vm(gre, "n0", 6)
    cloud.vm(gre, "n2", 6)
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
