"""What the L2 pipelines do with packets, walked offline through the flows the core sent
(three hypervisors, tests/unit/fake_cloud.py): delivery, isolation, the ARP responder,
l2population's flooding, provider VLANs and anti-spoofing, as the seeds describe them."""
import pytest

from ryu_app.model.local_vlans import LocalVlans
from ryu_app.model.store import Store
from ryu_app.outputs import CtFlushZone, ForgetLearnedVlan
from ryu_app.ovsdb.protocol import ovs_map
from ryu_app.pipeline import tables as T
from ryu_app.pipeline.flow import vlan
from ryu_app.pipeline.simulator import BROADCAST, arp_request, ipv4
from tests.unit.fake_cloud import CHASSIS, FakeCloud, dpid, tunnel_ofport


@pytest.fixture
def cloud(tmp_path):
    return FakeCloud(tmp_path)


def ip(vm: dict) -> str:
    return vm["fixed_ips"][0]["ip_address"]


def ping(source: dict, target: dict, **fields) -> dict:
    return ipv4(source["mac_address"], target["mac_address"], ip(source), ip(target), **fields)


def arp(source: dict, target_ip: str) -> dict:
    return arp_request(source["mac_address"], ip(source), target_ip)


def entered(result) -> set[str]:
    """The hypervisors whose bridges the packet (or a copy) entered."""
    return {hop.chassis for hop in result.hops}


def test_unicast_crosses_one_tunnel_to_the_one_vm_it_is_for(cloud):
    network, _ = cloud.network()
    a, b, c = (cloud.vm(network, chassis) for chassis in CHASSIS)
    result = cloud.send(a, ping(a, b))
    assert result.delivered_to() == [("n1", b["device"])]
    assert entered(result) == {"n0", "n1"}              # nothing reached n2
    tunnelled = next(hop for hop in result.hops if hop.chassis == "n1")
    assert tunnelled.port == "vxlan-n0"
    assert tunnelled.packet["tunnel_id"] == network["provider:segmentation_id"]
    assert ("n1", "br-tun", T.TUN_VXLAN_TO_LV) in result.path()


def test_a_remote_vms_arp_is_answered_on_the_senders_hypervisor(cloud):
    network, _ = cloud.network()
    a, b = cloud.vm(network, "n0"), cloud.vm(network, "n1")
    result = cloud.send(a, arp(a, ip(b)))
    reply = result.packet_at("n0", a["device"])
    assert (reply["arp_op"], reply["arp_spa"], reply["arp_sha"], reply["eth_dst"]) == (
        2, ip(b), b["mac_address"], a["mac_address"])
    assert ("n0", "br-tun", T.TUN_ARP_RESPONDER) in result.path()
    assert entered(result) == {"n0"}                    # no tunnel carried the request
    assert result.delivered_to() == [("n0", a["device"])]


def test_an_unknown_address_is_flooded_only_to_hypervisors_on_the_network(cloud):
    network, _ = cloud.network()
    a, b = cloud.vm(network, "n0"), cloud.vm(network, "n1")
    cloud.vm(cloud.network("10.9.0.0/24")[0], "n2")     # n2 serves another network only
    result = cloud.send(a, arp(a, "10.0.0.99"))
    assert result.delivered_to() == [("n1", b["device"])]
    assert "n2" not in entered(result)                  # l2pop: no flood to n2


def test_two_tenants_with_the_same_addresses_never_see_each_other(cloud):
    red, _ = cloud.network()
    blue, _ = cloud.network()
    red_vms = [cloud.vm(red, chassis) for chassis in CHASSIS]
    blue_vms = [cloud.vm(blue, chassis) for chassis in CHASSIS]
    assert [ip(vm) for vm in red_vms] == [ip(vm) for vm in blue_vms]   # the same IPs
    blue_devices = {(vm["chassis"], vm["device"]) for vm in blue_vms}
    for packet in (arp(red_vms[0], "10.0.0.99"),
                   ipv4(red_vms[0]["mac_address"], BROADCAST, ip(red_vms[0]), "10.0.0.255"),
                   ping(red_vms[0], red_vms[2])):
        delivered = set(cloud.send(red_vms[0], packet).delivered_to())
        assert delivered and not delivered & blue_devices
    # even a frame sent straight to a blue VM's MAC stays in red
    stray = ping(red_vms[0], blue_vms[1])
    assert not set(cloud.send(red_vms[0], stray).delivered_to()) & blue_devices


@pytest.mark.parametrize("port_security", [True, False])
def test_a_frame_tagged_with_another_networks_local_vlan_goes_nowhere(cloud, port_security):
    """A VM port is an access port: the tag a VM writes must not pass for the local VLAN
    of another network on its hypervisor (802.1Q hopping, into a group of overlapping
    addresses)."""
    red, _ = cloud.network()
    blue, _ = cloud.network()
    attacker = cloud.vm(red, "n0", port_security_enabled=port_security)
    victim = cloud.vm(blue, "n0")
    blue_vlan = vlan(cloud.local_vlans.get("n0", blue["id"]))
    for packet in (ping(attacker, victim, vlan_vid=blue_vlan),
                   {**arp(attacker, ip(victim)), "eth_dst": victim["mac_address"],
                    "vlan_vid": blue_vlan}):
        result = cloud.send(attacker, packet)
        assert result.delivered_to() == []
        assert [(o.table, o.reason) for o in result.of_kind("dropped")] == [
            (T.INT_LOCAL_SWITCHING, "drop flow")]
    peer = cloud.vm(red, "n0", port_security_enabled=False)
    assert cloud.send(attacker, ping(attacker, peer)).delivered_to() == [("n0", peer["device"])]
    # a priority tag (VLAN id 0) is no VLAN: NORMAL takes it as untagged on an access port
    result = cloud.send(attacker, ping(attacker, peer, vlan_vid=vlan(0)))
    assert result.delivered_to() == [("n0", peer["device"])]
    assert result.packet_at("n0", peer["device"]).get("vlan_vid", 0) == 0


def test_gre_networks_use_gre_tunnels_and_their_table(cloud):
    network, _ = cloud.network(network_type="gre")
    a, b = cloud.vm(network, "n0"), cloud.vm(network, "n2")
    result = cloud.send(a, ping(a, b))
    assert result.delivered_to() == [("n2", b["device"])]
    assert next(hop.port for hop in result.hops if hop.chassis == "n2") == "gre-n0"
    assert ("n2", "br-tun", T.TUN_GRE_TO_LV) in result.path()


@pytest.mark.parametrize("segmentation_id", [120, None])
def test_provider_networks_carry_their_vlan_on_the_wire(cloud, segmentation_id):
    provider = {"network_type": "vlan" if segmentation_id else "flat",
                "physical_network": "physnet1"}
    if segmentation_id:
        provider["segmentation_id"] = segmentation_id
    network, _ = cloud.network(**provider)
    a, b = cloud.vm(network, "n0"), cloud.vm(network, "n1")
    result = cloud.send(a, ping(a, b))
    assert result.delivered_to() == [("n1", b["device"])]
    wire = result.of_kind("physical")
    assert [(o.chassis, o.packet.get("vlan_vid")) for o in wire] == [
        ("n0", vlan(segmentation_id) if segmentation_id else None)]
    assert not any(hop.bridge == "br-tun" for hop in result.hops)   # no tunnel involved


def test_a_vm_may_send_only_from_its_own_addresses(cloud):
    network, _ = cloud.network()
    a, b = cloud.vm(network, "n0"), cloud.vm(network, "n1")
    spoofed_mac = {**ping(a, b), "eth_src": "fa:16:3e:99:99:99"}
    result = cloud.send(a, spoofed_mac)
    assert result.delivered_to() == []
    assert [(o.table, o.reason) for o in result.of_kind("dropped")] == [
        (T.INT_MAC_SPOOF, "drop flow")]
    spoofed_arp = {**arp(a, ip(b)), "arp_spa": ip(b)}
    result = cloud.send(a, spoofed_arp)
    assert result.delivered_to() == [] and result.of_kind("dropped")[0].table == T.INT_ARP_SPOOF
    # its own IP at b's MAC, from its own MAC: b's neighbours would send a's traffic to b
    poisoning = {**arp(a, ip(b)), "arp_sha": b["mac_address"]}
    result = cloud.send(a, poisoning)
    assert result.delivered_to() == [] and result.of_kind("dropped")[0].table == T.INT_ARP_SPOOF


def test_allowed_address_pairs_and_port_security_off_let_more_through(cloud):
    network, _ = cloud.network()
    pair_mac = "fa:16:3e:00:00:99"
    paired = cloud.vm(network, "n0", allowed_address_pairs=[
        {"ip_address": "10.0.0.128/25", "mac_address": pair_mac}])
    open_vm = cloud.vm(network, "n0", port_security_enabled=False)
    b = cloud.vm(network, "n1", port_security_enabled=False)   # no group judges what it gets
    from_pair = arp_request(pair_mac, "10.0.0.200", ip(b))
    reply = cloud.send(paired, from_pair).packet_at("n0", paired["device"])
    assert (reply["arp_op"], reply["eth_dst"]) == (2, pair_mac)   # answered by br-tun
    outside = arp_request(pair_mac, "10.0.0.50", ip(b))
    assert cloud.send(paired, outside).delivered_to() == []
    # the pair's prefix is at the pair's MAC: claimed at the port's own, it is dropped
    elsewhere = {**from_pair, "arp_sha": paired["mac_address"]}
    assert cloud.send(paired, elsewhere).of_kind("dropped")[0].table == T.INT_ARP_SPOOF
    anything = {**ping(open_vm, b), "eth_src": "fa:16:3e:12:34:56"}
    assert cloud.send(open_vm, anything).delivered_to() == [("n1", b["device"])]


def test_a_recreated_device_gets_what_its_address_pairs_mac_is_sent(cloud):
    """On a network without a router: the bridge's shared hand-over of the pair's MAC
    follows the device's new ofport."""
    network, _ = cloud.network()
    pair_mac = "fa:16:3e:aa:bb:cc"
    a = cloud.vm(network, "n0", allowed_address_pairs=[{"ip_address": "10.0.0.200",
                                                        "mac_address": pair_mac}])
    b = cloud.vm(network, "n1")
    to_pair = ipv4(b["mac_address"], pair_mac, ip(b), "10.0.0.200",
                   ct_state_after=T.CT_TRK | T.CT_NEW)
    assert cloud.send(b, to_pair).delivered_to() == [("n0", a["device"])]
    database = cloud.databases["n0"]
    database.remove_port(a["device"])
    database.add_port("br-int", a["device"], 555, external_ids={"iface-id": a["id"]})
    cloud.seen("n0")
    assert cloud.send(b, to_pair).delivered_to() == [("n0", a["device"])]


def test_a_device_moved_while_its_port_was_disabled_binds_where_it_is_when_enabled(cloud):
    network, _ = cloud.network()
    moved = cloud.vm(network, "n1")
    peer = cloud.vm(network, "n2", port_security_enabled=False)
    cloud.update("port", moved["id"], admin_state_up=False)
    cloud.unplug("n1", moved["device"])
    device = cloud.plug("n0", moved["id"])
    cloud.update("port", moved["id"], admin_state_up=True)
    port = cloud.model.records["port"][moved["id"]]
    assert (port["status"], port["binding:host_id"]) == ("ACTIVE", "n0")
    on_n0 = {**port, "device": device, "chassis": "n0"}
    assert cloud.send(on_n0, ping(on_n0, peer)).delivered_to() == [("n2", peer["device"])]


def test_an_any_address_pair_frees_the_source_address_not_the_mac(cloud):
    network, _ = cloud.network()
    any_source = cloud.vm(network, "n0", allowed_address_pairs=[{"ip_address": "0.0.0.0/0"}])
    b = cloud.vm(network, "n1", port_security_enabled=False)
    mac = any_source["mac_address"]
    reply = cloud.send(any_source, arp_request(mac, "192.0.2.9", ip(b))).packet_at(
        "n0", any_source["device"])
    assert (reply["arp_op"], reply["eth_dst"]) == (2, mac)
    spoofed_ip = {**ping(any_source, b), "ipv4_src": "192.0.2.9"}
    assert cloud.send(any_source, spoofed_ip).delivered_to() == [("n1", b["device"])]
    other_mac = {**spoofed_ip, "eth_src": "fa:16:3e:12:34:56"}
    result = cloud.send(any_source, other_mac)
    assert result.delivered_to() == [] and result.of_kind("dropped")[0].table == T.INT_MAC_SPOOF


def test_a_device_that_is_no_port_passes_nothing(cloud):
    network, _ = cloud.network()
    b = cloud.vm(network, "n1")
    stray = {"chassis": "n0", "device": cloud.plug("n0", "0a0b0c0d-not-a-port")}
    result = cloud.send(stray, {**ping(b, b), "eth_src": "fa:16:3e:00:00:42"})
    assert result.delivered_to() == []
    assert cloud.planner.device_tag("n0", cloud.topology.port(
        cloud.topology.bridge("n0", "int"), stray["device"])) == T.DEAD_VLAN


@pytest.mark.parametrize("tagged", [False, True])
def test_a_device_plugged_with_no_port_id_and_no_tap_name_is_dead_both_ways(cloud, tagged):
    """Left untagged, a port on br-int is one that NORMAL makes a trunk of every VLAN."""
    red, _ = cloud.network()
    blue, _ = cloud.network()
    r0, b0, b1 = cloud.vm(red, "n0"), cloud.vm(blue, "n0"), cloud.vm(blue, "n1")
    stray = {"chassis": "n0", "device": cloud.plug("n0", None, name="vnet150")}
    lvid = cloud.local_vlans.get("n0", blue["id"])
    sent = ipv4("fa:16:3e:66:66:66", BROADCAST, "10.0.0.66", "10.0.0.255", proto="udp",
                **({"vlan_vid": vlan(lvid)} if tagged else {}))
    assert cloud.send(stray, sent).delivered_to() == []
    assert cloud.engine.tags("n0", ["vnet150"]) == {"vnet150": T.DEAD_VLAN}
    heard = {vm["id"]: cloud.send(vm, arp(vm, "10.0.0.77")).delivered_to() for vm in (r0, b0, b1)}
    assert not any(("n0", stray["device"]) in each for each in heard.values())
    assert ("n1", b1["device"]) in heard[b0["id"]]   # the flood went on


def test_an_unplugged_vm_is_reached_no_more_and_its_hypervisor_leaves_the_flood_list(cloud):
    network, _ = cloud.network()
    a, b = cloud.vm(network, "n0"), cloud.vm(network, "n1")
    cloud.unplug("n1", b["device"])
    assert cloud.model.records["port"][b["id"]]["status"] == "DOWN"
    result = cloud.send(a, arp(a, ip(b)))
    assert result.delivered_to() == [] and entered(result) == {"n0"}
    assert cloud.local_vlans.get("n1", network["id"]) is None
    flood = [flow for flow in cloud.held("n0", "tun").get(("net", network["id"]), {}).values()
             if flow.table == T.TUN_FLOOD_TO_TUN]
    assert flood == []                                  # n0 floods to nobody now
    assert not [flow for flows in cloud.held("n0", "tun").values() for flow in flows.values()
                if ("output", tunnel_ofport("n1")) in flow.actions]


def test_a_local_vlan_is_forgotten_when_freed_and_its_zone_flushed_when_given(cloud):
    """A freed local VLAN goes to another network some day: once the flows no longer use
    it for the old one, br-tun forgets what it learned in it (only that: the
    controller's own table 20 flows carry another cookie) and br-int flushes its zone;
    a zone is flushed again before the flows that give it to a network."""
    network, _ = cloud.network()
    a = cloud.vm(network, "n0")
    cloud.vm(network, "n1")
    lvid = cloud.local_vlans.get("n0", network["id"])
    sent = cloud.unplug("n0", a["device"])
    cookie = cloud.engine.bridges[dpid("n0", "tun")].cookie
    assert ForgetLearnedVlan(T.TUN_UCAST_TO_TUN, lvid, cookie) in sent.after_flows[
        dpid("n0", "tun")]
    assert CtFlushZone(lvid) in sent.after_flows[dpid("n0", "int")]
    assert dpid("n1", "tun") not in sent.after_flows and cloud.local_vlans.get(
        "n1", network["id"]) is not None                             # n1 keeps the network
    assert CtFlushZone(lvid) not in sent.messages.get(dpid("n0", "int"), [])
    other, _ = cloud.network()
    before = len(cloud.sent)
    cloud.vm(other, "n0")
    given = cloud.local_vlans.get("n0", other["id"])
    assert any(CtFlushZone(given) in outputs.messages.get(dpid("n0", "int"), [])
               for outputs in cloud.sent[before:])                   # before its flows


def test_a_zone_freed_while_br_int_is_away_is_flushed_when_it_is_back(cloud):
    network, _ = cloud.network()
    a = cloud.vm(network, "n0")
    lvid = cloud.local_vlans.get("n0", network["id"])
    cloud.core.datapath_down(dpid("n0", "int"))
    cloud.unplug("n0", a["device"])
    back = cloud.take(cloud.core.datapath_up(dpid("n0", "int")))
    assert CtFlushZone(lvid) in back.messages[dpid("n0", "int")]   # before its flows
    assert CtFlushZone(lvid) not in cloud.take(cloud.core.datapath_up(
        dpid("n0", "int"))).messages[dpid("n0", "int")]               # and only once


def test_a_disabled_port_passes_nothing_until_it_is_enabled_again(cloud):
    """admin_state_up false: DOWN, its device in the dead VLAN as Neutron's agent puts it,
    neither sending nor reached; enabled again, the device still plugged binds again."""
    network, _ = cloud.network()
    a, b = cloud.vm(network, "n0"), cloud.vm(network, "n1")
    cloud.update("port", b["id"], admin_state_up=False)
    assert cloud.model.records["port"][b["id"]]["status"] == "DOWN"
    assert cloud.planner.device_tag("n1", cloud.topology.port(
        cloud.topology.bridge("n1", "int"), b["device"])) == T.DEAD_VLAN
    assert cloud.send(a, ping(a, b)).delivered_to() == []
    assert cloud.send(b, ping(b, a)).delivered_to() == []
    assert cloud.send(a, arp(a, ip(b))).delivered_to() == []   # no ARP answer for it
    cloud.update("port", b["id"], admin_state_up=True)
    assert cloud.model.records["port"][b["id"]]["status"] == "ACTIVE"
    assert cloud.send(a, ping(a, b)).delivered_to() == [("n1", b["device"])]
    assert cloud.send(b, ping(b, a)).delivered_to() == [("n0", a["device"])]
    created_disabled = cloud.vm(network, "n2", admin_state_up=False)
    assert (created_disabled["status"], created_disabled["binding:vif_type"]) == ("DOWN", "ovs")
    assert ("n2", created_disabled["device"]) not in cloud.send(
        a, ping(a, created_disabled)).delivered_to()


def test_a_freed_local_vlan_is_given_again_only_after_the_others(tmp_path):
    """Next-fit: the dead tag of a device its network left may still be on its way over
    OVSDB when the next network comes; that network gets another id."""
    vlans = LocalVlans(Store(str(tmp_path / "vlans.sqlite")))
    assert [vlans.ensure("n0", name) for name in ("a", "b")] == [1, 2]
    vlans.release("n0", "a")
    assert vlans.ensure("n0", "c") == 3
    vlans.release("n0", "b")
    assert vlans.ensure("n1", "a") == 1                    # each hypervisor its own
    assert vlans.ensure("n0", "d") == 4


def test_next_fit_carries_on_after_a_restart(tmp_path):
    """A restart right after a network freed the last id given must not hand that id to
    the next network (the freed one's dead tags may still be on their way)."""
    path = str(tmp_path / "vlans.sqlite")
    vlans = LocalVlans(Store(path))
    assert [vlans.ensure("n0", name) for name in ("a", "b", "c")] == [1, 2, 3]
    vlans.release("n0", "c")
    vlans.release("n0", "a")
    vlans.commit()
    vlans.store.close()
    reopened = LocalVlans(Store(path))
    assert reopened.ensure("n0", "d") == 4


def test_tunnel_ports_that_already_reach_a_hypervisors_new_address_lead_to_it(tmp_path):
    """n0 and n2 have VXLAN ports to 172.31.0.21 before n1 announces that address as its
    own: from then on they are n1's tunnels, and n0's frames for n1's VM take them."""
    cloud = FakeCloud(tmp_path)
    network, _ = cloud.network()
    here, there = cloud.vm(network, "n0"), cloud.vm(network, "n1")
    new_ip = "172.31.0.21"
    for chassis in ("n0", "n2"):
        database = cloud.databases[chassis]
        database.add_port("br-tun", "vxlan-ac1f0015", 50, "vxlan",
                          {"remote_ip": new_ip, "local_ip": cloud.specs[chassis].tunnel_ip})
        database.remove_port("vxlan-n1")
        cloud.seen(chassis)
    cloud.databases["n1"].replica.apply({"Open_vSwitch": {"root": {"modify": {
        "external_ids": ovs_map({"neutron-tunnel-ip": new_ip})}}}})
    cloud.seen("n1")
    assert cloud.send(here, ping(here, there)).delivered_to() == [("n1", there["device"])]


def test_a_hypervisors_new_tunnel_address_is_provisioned_on_the_others(tmp_path):
    """The others are asked for tunnels to the new address at once, not when their own
    database next changes."""
    cloud = FakeCloud(tmp_path)
    network, _ = cloud.network()
    cloud.vm(network, "n0"), cloud.vm(network, "n1")
    cloud.databases["n1"].replica.apply({"Open_vSwitch": {"root": {"modify": {
        "external_ids": ovs_map({"neutron-tunnel-ip": "172.31.0.99"})}}}})
    asked = cloud.seen("n1").transactions
    assert cloud.sessions["n0"].id in asked and "172.31.0.99" in str(asked)
