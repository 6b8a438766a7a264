"""Distributed routing, walked offline through the flows the core sent: routed on the
source hypervisor, each hypervisor's DVR MAC on the wire and in tunnels, the gateway's
ARP and pings answered locally, TTL decremented and its expiry sent to the controller."""
import pytest

from ryu_app.pipeline import tables as T
from ryu_app.pipeline.flow import vlan
from ryu_app.pipeline.planner import DVR_OWNER
from tests.unit.fake_cloud import FakeCloud, scoped_router
from tests.unit.test_l2_behaviour import arp, ip, ipv4, ping

GREEN_VLAN = 150
NEW = T.CT_TRK | T.CT_NEW
REPLY = T.CT_TRK | T.CT_EST | T.CT_RPL


@pytest.fixture
def routed(tmp_path):
    """blue (VXLAN, 10.0.0.0/24) and green (VLAN 150, 10.1.0.0/24) on one router; a blue
    VM on n0, green VMs on n1 and n0."""
    cloud = FakeCloud(tmp_path)
    blue, blue_subnet = cloud.network()
    green, green_subnet = cloud.network("10.1.0.0/24", network_type="vlan",
                                        physical_network="physnet1",
                                        segmentation_id=GREEN_VLAN)
    cloud.router_id = cloud.router(blue_subnet, green_subnet)["id"]
    cloud.gateway = {port["network_id"]: port
                     for port in cloud.planner.dvr_interfaces(cloud.router_id)}
    cloud.blue, cloud.green = blue, green
    cloud.blue_vm = cloud.vm(blue, "n0")
    cloud.green_vm = cloud.vm(green, "n1")
    cloud.green_near = cloud.vm(green, "n0")
    cloud.green_subnet = green_subnet
    return cloud


def routed_ping(cloud, source: dict, target: dict, **fields) -> dict:
    """What a VM sends to a VM of another subnet: to its own gateway's MAC."""
    gateway = cloud.gateway[source["network_id"]]["mac_address"]
    return ipv4(source["mac_address"], gateway, ip(source), ip(target), **fields)


def test_a_routed_packet_reaches_its_vm_with_the_gateway_as_source(routed):
    blue_vm, green_vm = routed.blue_vm, routed.green_vm
    result = routed.send(blue_vm, routed_ping(routed, blue_vm, green_vm))
    delivered = result.packet_at("n1", green_vm["device"])
    assert delivered["eth_src"] == routed.gateway[routed.green["id"]]["mac_address"]
    assert delivered["eth_dst"] == green_vm["mac_address"]
    assert delivered["nw_ttl"] == 63                     # one router hop
    assert result.delivered_to() == [("n1", green_vm["device"])]
    assert ("n0", "br-int", T.INT_TRANSIENT) in result.path()    # routed on the source
    # on the physical network: n0's DVR MAC, green's VLAN; no gateway MAC ever
    wire = result.of_kind("physical")
    assert [(o.packet["eth_src"], o.packet["vlan_vid"]) for o in wire] == [
        (routed.dvr_macs.get("n0"), vlan(GREEN_VLAN))]
    assert ("n1", "br-int", T.INT_DVR_TO_SRC_MAC_PHYSICAL) in result.path()


def test_the_way_back_crosses_a_tunnel_with_the_other_hypervisors_dvr_mac(routed):
    blue_vm, green_vm = routed.blue_vm, routed.green_vm
    result = routed.send(green_vm, routed_ping(routed, green_vm, blue_vm))
    assert result.delivered_to() == [("n0", blue_vm["device"])]
    tunnelled = next(hop for hop in result.hops if hop.chassis == "n0" and
                     hop.bridge == "br-tun")
    assert tunnelled.packet["eth_src"] == routed.dvr_macs.get("n1")
    gateways = {port["mac_address"] for port in routed.gateway.values()}
    assert not any(hop.packet["eth_src"] in gateways for hop in result.hops
                   if hop.chassis != "n1")              # gateway MACs stay on n1


def test_routing_between_vms_of_one_hypervisor_stays_on_it(routed):
    result = routed.send(routed.blue_vm, routed_ping(routed, routed.blue_vm, routed.green_near))
    assert result.delivered_to() == [("n0", routed.green_near["device"])]
    assert {hop.chassis for hop in result.hops} == {"n0"}
    assert result.of_kind("physical") == []


def test_the_gateway_answers_arp_and_pings_on_the_vms_own_hypervisor(routed):
    blue_vm = routed.blue_vm
    reply = routed.send(blue_vm, arp(blue_vm, "10.0.0.1")).packet_at("n0", blue_vm["device"])
    assert (reply["arp_op"], reply["arp_sha"]) == (
        2, routed.gateway[routed.blue["id"]]["mac_address"])
    # the far side's address; conntrack sees the request new and the answer as its reply
    echo = {**routed_ping(routed, blue_vm, blue_vm), "ipv4_dst": "10.1.0.1",
            "ct_state_after": (NEW, REPLY)}
    result = routed.send(blue_vm, echo)
    answer = result.packet_at("n0", blue_vm["device"])
    assert (answer["icmpv4_type"], answer["ipv4_src"], answer["ipv4_dst"]) == (
        0, "10.1.0.1", ip(blue_vm))
    assert {hop.chassis for hop in result.hops} == {"n0"}
    # the answer went through the port's ingress filter, accepted there as a reply
    assert result.path()[-2:] == [("n0", "br-int", T.INT_BASE_INGRESS),
                                  ("n0", "br-int", T.INT_RULES_INGRESS)]
    # one it had not asked for (its connection no longer known) would not be
    echo["ct_state_after"] = (NEW, NEW)
    assert routed.send(blue_vm, echo).delivered_to() == []


def test_a_subnet_of_a_routed_network_that_is_not_on_the_router_is_not_routed_into(routed):
    """green's second subnet 10.9.0.0/24 has no router interface: the router has no
    address there, so, as in Neutron, nothing is routed to its VMs, while green's routed
    subnet goes on being reached."""
    other = routed.create("subnet", network_id=routed.green["id"], cidr="10.9.0.0/24",
                          ip_version=4)
    aside = routed.vm(routed.green, "n1", fixed_ips=[{"subnet_id": other["id"]}])
    blue_vm = routed.blue_vm
    result = routed.send(blue_vm, routed_ping(routed, blue_vm, aside))
    assert result.delivered_to() == []
    assert [o.table for o in result.of_kind("dropped")] == [T.INT_TRANSIENT]
    assert routed.send(blue_vm, routed_ping(routed, blue_vm, routed.green_vm)
                       ).delivered_to() == [("n1", routed.green_vm["device"])]


def test_a_device_recreated_under_its_name_with_a_new_ofport_is_routed_to_there(routed):
    """Gone and back in one update of its hypervisor's database: the routes that deliver
    to the VM follow its new ofport, as its own flows do."""
    green_vm = routed.green_vm
    database = routed.databases["n1"]
    database.remove_port(green_vm["device"])
    database.add_port("br-int", green_vm["device"], 777,
                      external_ids={"iface-id": green_vm["id"]})
    routed.seen("n1")
    blue_vm = routed.blue_vm
    result = routed.send(blue_vm, routed_ping(routed, blue_vm, green_vm))
    assert result.delivered_to() == [("n1", green_vm["device"])]


def test_what_the_router_does_not_know_is_dropped_and_ttl_expiry_goes_to_the_controller(
        routed):
    blue_vm = routed.blue_vm
    unknown = {**routed_ping(routed, blue_vm, blue_vm), "ipv4_dst": "10.7.7.7"}
    result = routed.send(blue_vm, unknown)
    assert result.delivered_to() == [] and result.of_kind("physical") == []
    assert [o.table for o in result.of_kind("dropped")] == [T.INT_TRANSIENT]
    expiring = routed_ping(routed, blue_vm, routed.green_vm, nw_ttl=1)
    assert [(o.chassis, o.reason) for o in routed.send(blue_vm, expiring).of_kind(
        "controller")] == [("n0", "invalid_ttl")]


def test_a_router_set_down_routes_nothing_until_it_is_up_again(routed):
    """admin_state_up false: Neutron's L3 agents take the router away on every host, so
    its gateways answer no ARP and nothing is routed; its interfaces stay."""
    blue_vm, green_vm = routed.blue_vm, routed.green_vm
    routed.update("router", routed.router_id, admin_state_up=False)
    assert routed.send(blue_vm, routed_ping(routed, blue_vm, green_vm)).delivered_to() == []
    assert routed.send(blue_vm, arp(blue_vm, "10.0.0.1")).delivered_to() == []
    assert routed.send(routed.green_near, ping(routed.green_near, green_vm)
                       ).delivered_to() == [("n1", green_vm["device"])]   # L2 goes on
    routed.update("router", routed.router_id, admin_state_up=True)
    assert routed.send(blue_vm, routed_ping(routed, blue_vm, green_vm)).delivered_to() == [
        ("n1", green_vm["device"])]


def test_removing_the_interface_removes_the_routes(routed):
    routed.model.remove_router_interface(routed.router_id,
                                         {"subnet_id": routed.green_subnet["id"]})
    routed.written()
    result = routed.send(routed.blue_vm, routed_ping(routed, routed.blue_vm, routed.green_vm))
    assert result.delivered_to() == []
    # green still switches within itself
    assert routed.send(routed.green_near, ping(routed.green_near, routed.green_vm)
                       ).delivered_to() == [("n1", routed.green_vm["device"])]


def test_a_router_routes_within_an_address_scope_only(tmp_path):
    """A scoped network and an unscoped one on one router: not routed to each other
    (the unrouted drop in table 60 takes it), until the pool leaves its scope."""
    cloud = FakeCloud(tmp_path)
    pool, scoped, plain, router = scoped_router(cloud)
    cloud.gateway = {port["network_id"]: port
                     for port in cloud.planner.dvr_interfaces(router["id"])}
    inside, outside = cloud.vm(scoped, "n0"), cloud.vm(plain, "n1")
    for source, target in ((inside, outside), (outside, inside)):
        result = cloud.send(source, routed_ping(cloud, source, target))
        assert result.delivered_to() == [], (source["device"], result.path())
        assert (source["chassis"], "br-int", T.INT_TRANSIENT) in result.path()
    cloud.update("subnetpool", pool["id"], address_scope_id=None)
    result = cloud.send(inside, routed_ping(cloud, inside, outside))
    assert result.delivered_to() == [("n1", outside["device"])]


def test_a_device_re_created_on_its_hypervisor_is_still_routed_to(routed):
    """The new device (same iface-id, added before the old goes) has another ofport: the
    routes that deliver to the port follow it, not only its own device flows."""
    blue, green = routed.blue_vm, routed.green_vm            # blue on n0, green on n1
    new = routed.plug("n1", green["id"])
    routed.unplug("n1", green["device"])
    result = routed.send(blue, routed_ping(routed, blue, green))
    assert result.delivered_to() == [("n1", new)]


@pytest.mark.parametrize("network_type", ["vlan", "flat"])
def test_a_frame_from_another_physical_network_with_the_same_vlan_is_not_routed_in(
        tmp_path, network_type):
    """physnet2's VLAN 120 (or its untagged frames) is another network than physnet1's;
    a VM there may write a DVR MAC as its source when its port has no port security."""
    cloud = FakeCloud(tmp_path, physnets=2)
    segment = {"segmentation_id": 120} if network_type == "vlan" else {}
    red, red_subnet = cloud.network("10.1.0.0/24", network_type=network_type,
                                    physical_network="physnet1", **segment)
    _, other_subnet = cloud.network("10.2.0.0/24")
    router = cloud.router(red_subnet, other_subnet)
    cloud.gateway = {port["network_id"]: port
                     for port in cloud.planner.dvr_interfaces(router["id"])}
    victim = cloud.vm(red, "n1", port_security_enabled=False)
    member = cloud.vm(cloud.model.records["network"][other_subnet["network_id"]], "n2")
    blue, _ = cloud.network("10.9.0.0/24", network_type=network_type,
                            physical_network="physnet2", **segment)
    attacker = cloud.vm(blue, "n0", port_security_enabled=False)
    forged = ipv4(cloud.dvr_macs.get("n0"), victim["mac_address"], ip(member), ip(victim))
    assert ("n1", victim["device"]) not in cloud.send(attacker, forged).delivered_to()
    routed = cloud.send(member, routed_ping(cloud, member, victim))   # the router's way in
    assert routed.delivered_to() == [("n1", victim["device"])]
    assert ("n1", "br-int", T.INT_DVR_TO_SRC_MAC_PHYSICAL) in routed.path()


def gateway_on(cloud, subnet: dict) -> dict:
    """The distributed router interface port on a subnet."""
    return next(port for port in cloud.model.records["port"].values()
                if port["device_owner"] == DVR_OWNER
                and port["fixed_ips"][0]["subnet_id"] == subnet["id"])


def test_two_subnets_of_one_network_on_the_router_are_routed_to_each_other(tmp_path):
    """A client with only a default route sends to its gateway for the other subnet: the
    router routes it, to a VM elsewhere and on the same hypervisor, with the other
    subnet's gateway as source."""
    cloud = FakeCloud(tmp_path)
    blue, first = cloud.network("10.0.0.0/24")
    second = cloud.create("subnet", network_id=blue["id"], cidr="10.0.1.0/24", ip_version=4)
    cloud.router(first, second)
    source = cloud.vm(blue, "n0", fixed_ips=[{"subnet_id": first["id"]}])
    for chassis in ("n1", "n0"):
        target = cloud.vm(blue, chassis, fixed_ips=[{"subnet_id": second["id"]}])
        result = cloud.send(source, ipv4(source["mac_address"],
                                         gateway_on(cloud, first)["mac_address"],
                                         ip(source), ip(target)))
        assert result.delivered_to() == [(chassis, target["device"])]
        delivered = result.packet_at(chassis, target["device"])
        assert (delivered["eth_src"], delivered["nw_ttl"]) == (
            gateway_on(cloud, second)["mac_address"], 63)


def test_each_vm_gets_its_own_subnets_gateway_as_source_of_what_is_routed_to_it(tmp_path):
    """blue's two subnets are on two routers (R with green, S with red): a frame S routed
    to a VM of blue's second subnet comes from S's interface there, and R's from R's."""
    cloud = FakeCloud(tmp_path)
    blue, first = cloud.network("10.0.0.0/24")
    second = cloud.create("subnet", network_id=blue["id"], cidr="10.0.1.0/24", ip_version=4)
    green, green_subnet = cloud.network("10.1.0.0/24")
    red, red_subnet = cloud.network("10.2.0.0/24")
    cloud.router(first, green_subnet)
    cloud.router(second, red_subnet)
    for network, subnet, behind in ((green, first, green_subnet), (red, second, red_subnet)):
        target = cloud.vm(blue, "n1", fixed_ips=[{"subnet_id": subnet["id"]}])
        source = cloud.vm(network, "n0")
        result = cloud.send(source, ipv4(source["mac_address"],
                                         gateway_on(cloud, behind)["mac_address"],
                                         ip(source), ip(target)))
        assert result.delivered_to() == [("n1", target["device"])]
        assert result.packet_at("n1", target["device"])["eth_src"] == gateway_on(
            cloud, subnet)["mac_address"]
