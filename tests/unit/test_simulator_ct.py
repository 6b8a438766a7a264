"""The simulator's conntrack: ct's NAT, recirculation in a zone with a given ct_state,
ct_state/ct_zone matches and ct_clear, stateless as the rest of the walk."""
from ryu_app.pipeline import tables as T
from ryu_app.pipeline.flow import Flow, match, vlan
from ryu_app.pipeline.simulator import (MAX_RECIRCULATIONS, Fabric, SimBridge, ipv4,
                                        simulate)
from tests.unit.fake_cloud import UPSTREAM_MAC, FakeCloud, north_south
from topology.naming import PortInfo

MAC1, MAC2 = "fa:16:3e:00:00:01", "fa:16:3e:00:00:02"
IP = 0x0800
TRK, NEW, EST, INV = 0x20, 0x01, 0x02, 0x10
TRACKED_NOT_NEW = (TRK, TRK | NEW | INV)   # as tables.CT_REPLY_OR_RELATED


def one_bridge(flows) -> Fabric:
    ports = [PortInfo(f"tap{n}", n, "vm") for n in (1, 2, 3)]
    return Fabric([SimBridge(1, "hv1", "br0", "int", flows, ports)])


def ping(**fields):
    return ipv4(MAC1, MAC2, "10.0.0.1", "10.0.0.5", **fields)


def test_snat_and_dnat_rewrite_the_addresses_and_leave_the_packet_untracked():
    flows = [Flow(0, 10, match(eth_type=IP, in_port=1),
                  (("ct", True, 7, None, ("src", "203.0.113.5", True)), ("output", 2))),
             Flow(0, 10, match(eth_type=IP, in_port=2),
                  (("ct", True, 7, None, ("dst", "10.0.0.9", False)), ("output", 3)))]
    fabric = one_bridge(flows)
    out = simulate(fabric, "hv1", "br0", 1, ping()).packet_at("hv1", "tap2")
    assert (out["ipv4_src"], out["ipv4_dst"], out["icmpv4_type"]) == (
        "203.0.113.5", "10.0.0.5", 8)
    assert "ct_state" not in out and "ct_zone" not in out
    out = simulate(fabric, "hv1", "br0", 2, ping()).packet_at("hv1", "tap3")
    assert (out["ipv4_src"], out["ipv4_dst"]) == ("10.0.0.1", "10.0.0.9")


def test_a_ct_without_a_table_and_nothing_after_it_drops():
    flows = [Flow(0, 10, match(eth_type=IP), (("ct", True, 7, None, None),))]
    result = simulate(one_bridge(flows), "hv1", "br0", 1, ping())
    assert [(o.kind, o.reason) for o in result.outcomes] == [("dropped", "no output")]


RECIRCULATE = [
    Flow(0, 10, match(eth_type=IP, ct_state=(0, TRK)),   # untracked: to conntrack
         (("ct", False, 9, 10, ("", "", False)),)),
    Flow(10, 10, match(eth_type=IP, ct_zone=9, ct_state=TRACKED_NOT_NEW), (("output", 2),)),
    Flow(10, 5, match(eth_type=IP, ct_zone=9, ct_state=(TRK | NEW, TRK | NEW)),
         (("output", 3),)),
]


def test_recirculation_comes_back_in_the_zone_established_unless_told_otherwise():
    result = simulate(one_bridge(RECIRCULATE), "hv1", "br0", 1, ping())
    assert result.path() == [("hv1", "br0", 0), ("hv1", "br0", 10)]
    assert result.outcomes[0].kind == "delivered"   # no drop for the flow without output
    out = result.packet_at("hv1", "tap2")
    assert (out["ct_state"], out["ct_zone"]) == (TRK | EST, 9)
    assert out["ipv4_dst"] == "10.0.0.5"   # a bare nat: no NAT of its own to undo
    new = simulate(one_bridge(RECIRCULATE), "hv1", "br0", 1, ping(ct_state_after=TRK | NEW))
    assert new.delivered_to() == [("hv1", "tap3")]
    assert simulate(one_bridge(RECIRCULATE), "hv1", "br0", 1,
                    ping(ct_state_after=TRK | INV)).outcomes[0].reason == "table miss"


def test_a_bare_nat_restores_what_the_packet_says_the_connection_had():
    restored = ping(ct_nat_after=(("ipv4_dst", "10.0.0.77"),))
    out = simulate(one_bridge(RECIRCULATE), "hv1", "br0", 1, restored).packet_at("hv1", "tap2")
    assert out["ipv4_dst"] == "10.0.0.77"


def test_a_tracked_packet_given_skips_the_untracked_flow():
    result = simulate(one_bridge(RECIRCULATE), "hv1", "br0", 1,
                      ping(ct_state=TRK | EST, ct_zone=9))
    assert result.outcomes[0].reason == "table miss"   # table 0 wants -trk


def test_the_packet_goes_on_untracked_and_the_recirculated_copy_after_it():
    flows = [Flow(0, 10, match(eth_type=IP),
                  (("ct", True, 4, 20, ("dst", "10.0.0.9", False)), ("output", 3))),
             Flow(20, 10, match(ct_state=(TRK, TRK), ct_zone=4), (("output", 2),))]
    result = simulate(one_bridge(flows), "hv1", "br0", 1, ping())
    assert result.delivered_to() == [("hv1", "tap3"), ("hv1", "tap2")]
    original, copy = result.packet_at("hv1", "tap3"), result.packet_at("hv1", "tap2")
    assert "ct_state" not in original and copy["ct_state"] == TRK | EST
    assert original["ipv4_dst"] == copy["ipv4_dst"] == "10.0.0.9"   # NAT before the fork


def test_ct_clear_untracks():
    flows = [Flow(0, 10, match(eth_type=IP, ct_state=(0, TRK)),
                  (("ct", False, 3, 10, None),)),
             Flow(10, 10, (), (("ct_clear",), ("goto", 20))),
             Flow(20, 10, match(ct_state=(TRK, TRK)), (("output", 2),)),
             Flow(20, 5, match(ct_state=0, ct_zone=0), (("output", 3),))]
    result = simulate(one_bridge(flows), "hv1", "br0", 1, ping())
    assert result.delivered_to() == [("hv1", "tap3")]
    assert result.steps[1].packet["ct_zone"] == 3   # tracked as it entered table 10


def test_a_recirculation_loop_is_stopped():
    flows = [Flow(0, 10, match(eth_type=IP), (("ct", False, 1, 0, None),))]
    result = simulate(one_bridge(flows), "hv1", "br0", 1, ping())
    assert len(result.steps) == MAX_RECIRCULATIONS + 1
    assert [(o.kind, o.reason) for o in result.outcomes] == [("loop", "recirculation limit")]


def test_a_patch_port_crossing_untracks():
    fabric = Fabric([
        SimBridge(1, "hv1", "br-a", "int",
                  [Flow(0, 10, match(in_port=1), (("ct", False, 5, 10, None),)),
                   Flow(10, 10, match(ct_zone=5), (("output", 2),))],
                  [PortInfo("tap1", 1, "vm"), PortInfo("patch-a", 2, "patch", peer="patch-b")]),
        SimBridge(2, "hv1", "br-b", "int",
                  [Flow(0, 10, match(ct_state=(0, TRK), ct_zone=0), (("output", 2),))],
                  [PortInfo("patch-b", 1, "patch", peer="patch-a"), PortInfo("tap2", 2, "vm")]),
    ])
    result = simulate(fabric, "hv1", "br-a", "tap1", ping())
    assert result.delivered_to() == [("hv1", "tap2")]
    assert "ct_state" not in result.packet_at("hv1", "tap2")


def test_a_reply_to_snat_is_un_snated_and_routed_back_to_its_vm(tmp_path):
    """The pipeline's own flows: from the outside into the SNAT hypervisor's br-ex, un-SNAT
    in the router's zone, recirculate to table 80, routed over VXLAN to the VM on n1."""
    cloud = FakeCloud(tmp_path)
    network, subnet = cloud.network()
    router = cloud.router(subnet)
    vm = cloud.vm(network, "n1")
    north_south(cloud, router, network)
    gateway = next(port for port in cloud.planner.model.records["port"].values()
                   if port["device_owner"] == "network:router_gateway")
    vm_ip = vm["fixed_ips"][0]["ip_address"]
    reply = ipv4(UPSTREAM_MAC, gateway["mac_address"], "198.51.100.1",
                 gateway["fixed_ips"][0]["ip_address"], "tcp", tcp_src=80, tcp_dst=40000,
                 vlan_vid=vlan(130), ct_nat_after=(("ipv4_dst", vm_ip),),
                 ct_state_after=T.CT_TRK | T.CT_EST | T.CT_RPL)
    result = simulate(cloud.fabric(), "n2", "br-eth1", "eth1", reply)
    assert ("n2", "br-int", 80) in result.path()
    out = result.packet_at(vm["chassis"], vm["device"])
    assert (out["ipv4_src"], out["ipv4_dst"], out["eth_dst"]) == (
        "198.51.100.1", vm_ip, vm["mac_address"])
    # untracked by the tunnel, then tracked again by the VM's firewall in its own zone
    assert out["ct_zone"] == cloud.planner.local_vlans.get("n1", network["id"])
