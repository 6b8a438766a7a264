"""br-int and br-ethX flows (pure): the seeds' tables, exactly."""
from ryu_app.pipeline import br_int, br_phys
from ryu_app.pipeline.flow import ETH_TYPE_ARP, match, vlan

MAC, IP = "fa:16:3e:00:00:01", "10.0.0.5"


def by_key(flows):
    keyed = {(f.table, f.priority, f.match): f.actions for f in flows}
    assert len(keyed) == len(flows)  # no two flows share a key
    return keyed


def test_start_up_tables():
    flows = by_key(br_int.default_flows([2]))
    assert flows[(23, 0, ())] == ()                                  # canary
    assert flows[(0, 65535, match(vlan_vid=vlan(4095)))] == ()       # dead VLAN
    assert flows[(0, 0, ())] == (("goto", 60),)
    assert flows[(60, 1, ())] == (("output", "normal"),)
    assert flows[(24, 0, ())] == () and flows[(25, 0, ())] == ()     # default drop
    assert flows[(0, 2, match(in_port=2))] == ()                     # int-br-X: drop the rest


def test_anti_spoofing_of_one_port():
    flows = by_key(br_int.port_security_flows(5, 7, [IP, ("10.0.1.0", "255.255.255.0")],
                                              [MAC]))
    assert flows == {  # table 0 also notes the local VLAN (7) for DVR
        (0, 10, match(in_port=5, eth_type=ETH_TYPE_ARP)): (("set_field", "reg6", 7),
                                                           ("goto", 24)),
        (0, 9, match(in_port=5)): (("set_field", "reg6", 7), ("goto", 25)),
        (24, 2, match(in_port=5, eth_type=ETH_TYPE_ARP, arp_spa=IP)): (("goto", 25),),
        (24, 2, match(in_port=5, eth_type=ETH_TYPE_ARP,
                      arp_spa=("10.0.1.0", "255.255.255.0"))): (("goto", 25),),
        (25, 2, match(in_port=5, eth_src=MAC)): (("goto", 60),),
    }


def test_provider_vlan_in_and_out():
    vlan_in = br_int.provider_in_flow(2, 100, 3)
    assert vlan_in.match == match(in_port=2, vlan_vid=vlan(100))
    assert vlan_in.actions == (("set_field", "vlan_vid", vlan(3)), ("goto", 60))
    flat_in = br_int.provider_in_flow(2, None, 4)
    assert flat_in.match == match(in_port=2, vlan_vid=0)
    assert flat_in.actions[:2] == (("push_vlan", 0x8100), ("set_field", "vlan_vid", vlan(4)))
    vlan_out = br_phys.provider_out_flow(1, 3, 100)
    assert (vlan_out.table, vlan_out.priority) == (0, 4)
    assert vlan_out.match == match(in_port=1, vlan_vid=vlan(3))
    assert vlan_out.actions == (("set_field", "vlan_vid", vlan(100)), ("output", "normal"))
    assert br_phys.provider_out_flow(1, 4, None).actions[0] == ("pop_vlan",)


def test_physical_bridge_start_up():
    assert by_key(br_phys.default_flows(1)) == {
        (0, 0, ()): (("output", "normal"),), (0, 2, match(in_port=1)): ()}
