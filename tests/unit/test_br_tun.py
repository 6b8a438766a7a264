"""br-tun flows for a given network (pure): exactly the seed's tables, nothing more."""
from ryu_app.pipeline import tables as T
from ryu_app.pipeline.br_tun import (LEARN_REMOTE_MAC, TunnelSegment, default_flows,
                                     dvr_interface_flows, segment_flows, tunnel_port_flow)
from ryu_app.pipeline.flow import match, vlan

PATCH_INT = 1


def test_default_skeleton_matches_the_seed():
    flows = {(f.table, f.priority, f.match): f.actions for f in default_flows(PATCH_INT)}
    assert flows[(0, 1, match(in_port=PATCH_INT))] == (("goto", 1),)   # DVR egress first
    assert flows[(1, 0, ())] == (("goto", 2),)
    assert flows[(9, 0, ())] == (("goto", 10),)
    assert flows[(0, 0, ())] == ()  # everything else dropped
    assert flows[(10, 1, ())] == (LEARN_REMOTE_MAC, ("output", PATCH_INT))
    assert LEARN_REMOTE_MAC[1:4] == (20, 1, 300)  # table, priority, hard_timeout
    assert flows[(20, 0, ())] == (("goto", 22),) and flows[(21, 0, ())] == (("goto", 22),)
    assert flows[(22, 0, ())] == () and flows[(3, 0, ())] == () and flows[(4, 0, ())] == ()
    assert len(flows) == len(default_flows(PATCH_INT))  # no two flows share a key


def test_tunnel_ports_feed_the_table_of_their_type():
    assert tunnel_port_flow(5, "gre").actions == (("goto", T.TUN_GRE_TO_LV),)
    assert tunnel_port_flow(6, "vxlan").actions == (("goto", T.TUN_VXLAN_TO_LV),)


def test_a_vxlan_network_with_two_remote_chassis():
    segment = TunnelSegment(lvid=1, segmentation_id=1001, tunnel_type="vxlan",
                            flood_ports=(7, 5), remote_macs=(("fa:16:3e:00:00:0b", 5),),
                            remote_ips=(("10.0.0.11", "fa:16:3e:00:00:0b"),))
    flows = segment_flows(segment)
    by_table = {f.table: f for f in flows}
    assert set(by_table) == {4, 20, 21, 22}
    assert by_table[4].match == match(tunnel_id=1001)
    assert by_table[4].actions[-1] == ("goto", T.TUN_DVR_NOT_LEARN)
    assert ("set_field", "vlan_vid", vlan(1)) in by_table[4].actions
    assert by_table[22].actions == (("pop_vlan",), ("set_field", "tunnel_id", 1001),
                                    ("output", 5), ("output", 7))
    assert by_table[20].priority == 2
    assert by_table[20].match == match(vlan_vid=vlan(1), eth_dst="fa:16:3e:00:00:0b")
    assert by_table[20].actions[-1] == ("output", 5)
    reply = by_table[21].actions
    assert reply[0] == ("set_field", "arp_op", 2) and reply[-1] == ("output", "in_port")
    assert ("set_field", "arp_spa", "10.0.0.11") in reply


def test_a_network_alone_on_this_chassis_floods_nowhere():
    flows = segment_flows(TunnelSegment(lvid=3, segmentation_id=9, tunnel_type="gre"))
    assert [(f.table, f.match) for f in flows] == [(T.TUN_GRE_TO_LV, match(tunnel_id=9))]


def test_remote_dvr_macs_skip_learning():
    flows = {(f.table, f.priority, f.match): f.actions
             for f in default_flows(PATCH_INT, ("fa:16:3f:00:00:02",))}
    assert flows[(9, 1, match(eth_src="fa:16:3f:00:00:02"))] == (("output", PATCH_INT),)


def test_routed_frames_leave_with_the_dvr_mac():
    drop, rewrite = dvr_interface_flows(3, "fa:16:3e:00:00:01", "fa:16:3f:00:00:01")
    assert (drop.table, drop.priority, drop.actions) == (1, 2, ())
    assert drop.match == match(vlan_vid=vlan(3), eth_dst="fa:16:3e:00:00:01")
    assert rewrite.match == match(vlan_vid=vlan(3), eth_src="fa:16:3e:00:00:01")
    assert rewrite.actions == (("set_field", "eth_src", "fa:16:3f:00:00:01"), ("goto", 2))
