"""The core: plain events in, what to send out, each piece recomputed once per batch;
what it sent a bridge is what it would compute from scratch."""
import collections

import pytest

from ryu_app import core
from ryu_app.core import TAG_RETRIES
from ryu_app.model.local_vlans import LocalVlans
from ryu_app.model.store import Store
from ryu_app.outputs import FlowStatsRequest, PacketInsToController
from ryu_app.pipeline import tables as T
from ryu_app.pipeline.planner import BASE
from tests.unit.fake_cloud import CHASSIS, IPS, FakeCloud, FakeDatabase, dpid
from topology.chassis import ChassisSpec
from topology.naming import tunnel_port_name


@pytest.fixture
def cloud(tmp_path):
    return FakeCloud(tmp_path)


def keys(outputs, chassis_session: int) -> list:
    return [key for key, _ in outputs.transactions.get(chassis_session, [])]


def held_equals_desired(cloud: FakeCloud) -> None:
    """What the core sent each bridge, group by group, is what it would compute now."""
    for bridge in cloud.topology.bridges.values():
        wanted = {group: set(flows) for group, flows in
                  cloud.planner.bridge_groups(bridge).items() if flows}
        held = {group: set(flows.values()) for group, flows in
                cloud.engine.bridges[bridge.dpid].groups.items()}
        assert held == wanted, bridge


def test_incremental_recomputation_ends_where_a_fresh_one_would(cloud):
    blue, blue_subnet = cloud.network()
    green, green_subnet = cloud.network("10.1.0.0/24", network_type="vlan",
                                        physical_network="physnet1", segmentation_id=150)
    vms = [cloud.vm(network, chassis) for network in (blue, green) for chassis in CHASSIS]
    router = cloud.router(blue_subnet, green_subnet)
    held_equals_desired(cloud)
    cloud.unplug("n1", vms[1]["device"])
    cloud.model.update_port(vms[3]["id"], {"allowed_address_pairs": [
        {"ip_address": "10.1.0.200"}]})
    cloud.written()
    cloud.model.remove_router_interface(router["id"], {"subnet_id": green_subnet["id"]})
    cloud.written()
    held_equals_desired(cloud)


def test_a_port_event_sends_flow_mods_only_to_the_hypervisors_sharing_its_network(cloud):
    shared, _ = cloud.network()
    other, _ = cloud.network("10.9.0.0/24")
    cloud.vm(other, "n2")            # n2 serves another network only
    cloud.vm(shared, "n0")
    port = cloud.create("port", network_id=shared["id"])
    outputs = cloud.databases["n1"].add_port("br-int", "vnet9", 9,
                                             external_ids={"iface-id": port["id"]})
    outputs = cloud.seen("n1")
    touched = {dpid: len(mods) for dpid, mods in outputs.flow_mods.items()}
    assert set(touched) == {dpid("n0", "tun"), dpid("n1", "tun"), dpid("n1", "int")}
    assert touched[dpid("n0", "tun")] == 3   # n1's port: unicast, ARP; and the flood list


def test_fifty_ports_plugged_in_one_transaction_recompute_each_network_once(cloud):
    networks = [cloud.network(f"10.{i}.0.0/24")[0] for i in range(5)]
    for network in networks:   # every network already on n0 and n1
        cloud.vm(network, "n0")
        cloud.vm(network, "n1")
    ports = [cloud.create("port", network_id=networks[i % 5]["id"]) for i in range(50)]
    database = cloud.databases["n2"]
    for number, port in enumerate(ports):   # one update from n2's database: fifty devices
        database.add_port("br-int", f"vnet{200 + number}", 200 + number,
                          external_ids={"iface-id": port["id"]})
    outputs = cloud.seen("n2")
    assert all(cloud.model.records["port"][p["id"]]["status"] == "ACTIVE" for p in ports)
    assert outputs.recomputed == collections.Counter(
        {(network["id"], chassis): 1 for network in networks for chassis in CHASSIS})
    # one batch of flow-mods per bridge: n2's br-int (fifty devices) and every br-tun, and
    # one tag transaction for the fifty
    assert sorted(outputs.flow_mods) == sorted(
        [dpid("n2", "int")] + [dpid(chassis, "tun") for chassis in CHASSIS])
    tags = [key for key in keys(outputs, cloud.sessions["n2"].id) if key[0] == "tags"]
    assert len(tags) == 1 and len(tags[0][1]) == 50


def test_a_port_no_flow_names_recomputes_nothing(cloud):
    """An unbound port in no security group: nothing anywhere names it."""
    network, _ = cloud.network()
    bound = cloud.vm(network, "n0")
    cloud.create("port", network_id=network["id"], security_groups=[])
    assert cloud.sent[-1].flow_mods == {} and not cloud.sent[-1].recomputed
    assert cloud.planner.affected_networks(bound) == {network["id"]}


def test_an_unbound_port_of_a_group_is_a_member_where_the_group_is_remote(cloud):
    """The default group lets its members in: a new member's address joins the zone
    of the bound port, and nothing else changes."""
    network, _ = cloud.network()
    cloud.vm(network, "n0")
    port = cloud.create("port", network_id=network["id"])
    [mods] = cloud.sent[-1].flow_mods.values()
    address = port["fixed_ips"][0]["ip_address"]
    assert [(flow.table, dict(flow.match).get("ipv4_src")) for flow in mods.adds] == [
        (T.INT_RULES_INGRESS, address)] and not mods.deletes


def test_a_new_hypervisor_registers_and_every_other_learns_its_dvr_mac(cloud):
    spec = ChassisSpec("n3", "172.31.0.13", {"physnet1": "br-eth1"})
    database = FakeDatabase(spec)
    database.add_bridge("br-int", 0x40)
    session = core.SessionInfo(9, spec.tunnel_ip, "10.0.0.1")
    outputs, seen = cloud.core.ovsdb_seen(session, database.replica, first=True)
    assert seen.chassis == "n3"
    outputs.merge(cloud.core.flush())
    mac = cloud.dvr_macs.get("n3")
    assert mac is not None and spec in cloud.engine.hypervisors.all()
    assert any(("eth_src", mac) in flow.match for flow in cloud.held("n0", "tun")[BASE].values())
    # what n3 still lacks is asked of its own session: br-tun, patches, settings
    assert ("bridge", "br-tun") in keys(outputs, 9)
    assert not cloud.topology.alive("n3")       # no OpenFlow connection yet


def test_a_second_session_for_one_hypervisor_replaces_the_first(cloud):
    newer = core.SessionInfo(42, IPS["n1"], "10.0.0.1")
    database = FakeDatabase(cloud.specs["n1"])   # the same database, read afresh
    database.build_neutron_bridges(cloud.specs["n1"])
    outputs, seen = cloud.core.ovsdb_seen(newer, database.replica, first=True)
    assert seen.chassis == "n1" and outputs.close == {cloud.sessions["n1"].id}
    assert cloud.core.ovsdb_replied(cloud.sessions["n1"].id, ("tags", ()), None).transactions \
        == {}                                   # the old one's replies are ignored
    cloud.core.ovsdb_closed(cloud.sessions["n1"].id)
    assert cloud.topology.alive("n1")            # still alive through the newer session


def test_an_unregistered_database_is_refused_until_it_says_who_it_is(cloud):
    database = FakeDatabase(ChassisSpec("n4", "172.31.0.14"))
    database.replica.tables["Open_vSwitch"]["root"]["external_ids"] = {}
    session = core.SessionInfo(7, "172.31.0.14", "10.0.0.1")
    outputs, seen = cloud.core.ovsdb_seen(session, database.replica, first=True)
    assert seen.chassis is None and outputs.transactions == {}
    assert "n4" not in cloud.topology.chassis


def test_a_reconnect_binds_what_is_plugged_and_puts_down_what_went_meanwhile(cloud):
    network, _ = cloud.network()
    here, gone = cloud.vm(network, "n2"), cloud.vm(network, "n2")
    cloud.databases["n2"].remove_port(gone["device"])   # unplugged while we were away
    cloud.core.ovsdb_closed(cloud.sessions["n2"].id)
    cloud.seen("n2", first=True)
    ports = cloud.model.records["port"]
    assert (ports[here["id"]]["status"], ports[gone["id"]]["status"]) == ("ACTIVE", "DOWN")


def test_tunnels_are_asked_for_when_two_hypervisors_first_share_a_network(cloud):
    network, _ = cloud.network()
    cloud.vm(network, "n0")
    assert cloud.planner.tunnels_wanted("n0") == set()
    cloud.vm(network, "n1")
    wanted = tunnel_port_name("vxlan", IPS["n1"])
    asked = [key for outputs in cloud.sent for key in keys(outputs, cloud.sessions["n0"].id)]
    assert ("port", wanted) in asked
    assert cloud.planner.tunnels_wanted("n0") == {("vxlan", "n1")}


def test_a_connecting_bridge_gets_everything_then_a_sweep_of_the_stale(cloud):
    network, _ = cloud.network()
    cloud.vm(network, "n0")
    cloud.core.datapath_down(dpid("n0", "int"))
    outputs = cloud.core.datapath_up(dpid("n0", "int"))
    messages = outputs.messages[dpid("n0", "int")]
    assert isinstance(messages[0], PacketInsToController)
    assert outputs.after_flows[dpid("n0", "int")][-1] == FlowStatsRequest()
    mods = outputs.flow_mods[dpid("n0", "int")]
    assert mods.deletes == [] and len(mods.adds) == sum(
        len(flows) for flows in cloud.held("n0", "int").values())
    stale = cloud.core.flow_stats(dpid("n0", "int"), [(0, 0, "m1", mods.cookie),
                                                       (T.CANARY, 0, "c", mods.cookie),
                                                       (60, 1, "m2", mods.cookie ^ 1)])
    assert [(m.table, m.match) for m in stale.messages[dpid("n0", "int")]] == [(60, "m2")]


@pytest.mark.parametrize("role", ["int", "tun", "phys"])
def test_a_bridge_that_lost_its_canary_is_programmed_afresh(cloud, role):
    """Every tick asks each bridge for table 23; without our canary there, the switch
    lost our flows (ovs-ofctl del-flows), and it is programmed as on a connection."""
    network, _ = cloud.network()
    cloud.vm(network, "n0")
    asked = cloud.core.tick().messages
    assert {dpid_ for dpid_, messages in asked.items()
            if FlowStatsRequest(T.CANARY) in messages} == set(cloud.engine.bridges)
    bridge = dpid("n0", role)
    before = cloud.engine.bridges[bridge].cookie
    kept = cloud.core.flow_stats(bridge, [(T.CANARY, 0, "c", before)])
    assert kept.flow_mods == {}                                  # all there: nothing sent
    part = cloud.core.flow_stats(bridge, [(0, 0, "m", before)])
    assert part.flow_mods == {}          # a part of a whole dump, without table 23: fine
    lost = cloud.core.flow_stats(bridge, [])
    mods = lost.flow_mods[bridge]
    assert mods.cookie != before and len(mods.adds) == sum(
        len(flows) for flows in cloud.held("n0", role).values())
    assert lost.after_flows[bridge][-1] == FlowStatsRequest()   # then a sweep


def test_a_new_gateway_is_announced_to_the_vms_of_its_network_only(cloud):
    network, subnet = cloud.network()
    other, _ = cloud.network("10.9.0.0/24")
    vms = [cloud.vm(network, "n0"), cloud.vm(network, "n1"), cloud.vm(other, "n2")]
    cloud.router(subnet)
    garps = [(dpid, message.port) for dpid, messages in cloud.sent[-1].announcements.items()
             for message in messages]
    ofport = {vm["id"]: cloud.topology.port(cloud.topology.bridge(vm["chassis"], "int"),
                                            vm["device"]).ofport for vm in vms}
    assert sorted(garps) == [(dpid("n0", "int"), ofport[vms[0]["id"]]),
                             (dpid("n1", "int"), ofport[vms[1]["id"]])]


def test_local_vlans_survive_a_restart_and_are_per_hypervisor(cloud, tmp_path):
    first, _ = cloud.network()
    second, _ = cloud.network("10.1.0.0/24", network_type="gre")
    cloud.vm(first, "n0")
    cloud.vm(second, "n0")
    cloud.vm(second, "n1")
    ids = {(c, n["id"]): cloud.local_vlans.get(c, n["id"]) for c in ("n0", "n1")
           for n in (first, second)}
    assert ids[("n0", first["id"])] != ids[("n0", second["id"])]
    assert ids[("n1", second["id"])] == 1                  # n1's own numbering
    cloud.model.store.close()
    reopened = LocalVlans(Store(str(tmp_path / "db.sqlite")))
    assert {key: reopened.get(*key) for key in ids} == ids


def test_a_tap_named_device_binds_by_the_name_rule(cloud):
    network, _ = cloud.network()
    port = cloud.create("port", network_id=network["id"])
    cloud.plug("n2", name="tap" + port["id"][:11])
    bound = cloud.model.records["port"][port["id"]]
    assert (bound["status"], bound["binding:host_id"]) == ("ACTIVE", "n2")


def tag_keys(outputs, session: int) -> list:
    return [key for key in keys(outputs, session) if key[0] == "tags"]


def tags_sent_for(cloud, vm: dict) -> tuple:
    """The one tags transaction the core sent with the VM's device (not yet answered)."""
    session = cloud.sessions[vm["chassis"]].id
    (key,) = [key for outputs in cloud.sent for key in tag_keys(outputs, session)
              if vm["device"] in key[1]]
    return key


def test_tags_wanted_while_one_is_on_its_way_go_with_its_answer(cloud):
    network, _ = cloud.network()
    session = cloud.sessions["n0"].id
    first = cloud.vm(network, "n0")
    in_flight = tags_sent_for(cloud, first)
    second = cloud.vm(network, "n0")                     # its tag waits ...
    assert not tag_keys(cloud.sent[-1], session)
    cloud.databases["n0"].set_tag(first["device"], cloud.local_vlans.get("n0", network["id"]))
    answered = cloud.core.ovsdb_replied(session, in_flight, None)
    assert [key[1] for key in tag_keys(answered, session)] == [(second["device"],)]   # now


def test_a_refused_tags_write_is_tried_again_a_few_times_then_logged(cloud):
    network, _ = cloud.network()
    session = cloud.sessions["n0"].id
    key = tags_sent_for(cloud, cloud.vm(network, "n0"))
    for _ in range(TAG_RETRIES):
        again = tag_keys(cloud.core.ovsdb_replied(session, key, "constraint violation"), session)
        assert again == [key]
    assert tag_keys(cloud.core.ovsdb_replied(session, key, "constraint violation"),
                    session) == []


def test_a_binding_whose_flush_a_crash_lost_is_served_after_the_restart(cloud):
    """kill -9 between the binding's commit (made while the OVSDB update is handled) and
    the flush that would give its network a local VLAN: the restarted controller's first
    look at each hypervisor checks every network's local VLANs, and the port is served."""
    network, _ = cloud.network()
    cloud.vm(network, "n0")                 # a peer, whose br-tun should learn the port
    port = cloud.create("port", network_id=network["id"])
    database = cloud.databases["n1"]
    database.add_port("br-int", "vnet200", 200, external_ids={"iface-id": port["id"]})
    cloud.core.ovsdb_seen(cloud.sessions["n1"], database.replica, False)   # no flush
    assert cloud.model.records["port"][port["id"]]["status"] == "ACTIVE"
    assert cloud.local_vlans.get("n1", network["id"]) is None
    restarted = cloud.restart()
    topology = restarted.topology
    device = topology.port(topology.bridge("n1", "int"), "vnet200")
    assert restarted.planner.device_tag("n1", device) != T.DEAD_VLAN
    remote = {group for group in restarted.engine.bridges[dpid("n0", "tun")].groups
              if group[0] == "remote"}
    assert ("remote", network["id"], port["id"]) in remote


def test_an_unbinding_whose_flush_a_crash_lost_frees_the_vlan_after_the_restart(cloud):
    """kill -9 between a port's going down (its device removed, the last of its network
    on n1) and the flush that frees the network's local VLAN there: after the restart n1
    no longer holds the VLAN, and n0 floods the network to no tunnel."""
    network, _ = cloud.network()
    cloud.vm(network, "n0")
    leaving = cloud.vm(network, "n1")
    database = cloud.databases["n1"]
    database.remove_port(leaving["device"])
    cloud.core.ovsdb_seen(cloud.sessions["n1"], database.replica, False)   # no flush
    assert cloud.model.records["port"][leaving["id"]]["status"] == "DOWN"
    assert cloud.local_vlans.get("n1", network["id"]) is not None
    restarted = cloud.restart()
    assert restarted.engine.local_vlans.get("n1", network["id"]) is None
    groups = restarted.engine.bridges[dpid("n0", "tun")].groups
    assert ("remote", network["id"], leaving["id"]) not in groups
    floods = [action for flow in groups[("net", network["id"])].values()
              if flow.table == T.TUN_FLOOD_TO_TUN for action in flow.actions]
    assert not [action for action in floods if action[0] == "output"], floods


def settled_tag(cloud, vm: dict) -> int:
    """The VM's tags transaction answered as ovsdb-server would: the tag in its Port row."""
    session = cloud.sessions[vm["chassis"]].id
    key = tags_sent_for(cloud, vm)
    tag = cloud.engine.tags(vm["chassis"], [vm["device"]])[vm["device"]]
    cloud.databases[vm["chassis"]].set_tag(vm["device"], tag)
    cloud.take(cloud.core.ovsdb_replied(session, key, None))
    return tag


@pytest.mark.parametrize("drift", ["edited by hand", "port row re-created"])
def test_a_vm_port_whose_tag_drifts_is_tagged_again(cloud, drift):
    """``ovs-vsctl set port vnetN tag=M`` puts a VM in another network's local VLAN; a Port
    row deleted and added again with the same name, ofport and iface-id between two looks
    at the database (a hard reboot's unplug and plug, handled in one batch) leaves it with
    no tag, a trunk that NORMAL floods every network's frames into.  Either way the port's
    own tag is written again; its tag landing, as asked, writes nothing."""
    network, _ = cloud.network()
    vm = cloud.vm(network, "n0")
    session = cloud.sessions["n0"].id
    tag = settled_tag(cloud, vm)
    assert not tag_keys(cloud.seen("n0"), session)
    database = cloud.databases["n0"]
    if drift == "edited by hand":
        database.set_tag(vm["device"], tag + 1)
    else:
        ofport = cloud.topology.port(cloud.topology.bridge("n0", "int"), vm["device"]).ofport
        database.remove_port(vm["device"])
        database.add_port("br-int", vm["device"], ofport, external_ids={"iface-id": vm["id"]})
    outputs = cloud.seen("n0")
    [(key, operations)] = [(key, operations) for key, operations
                           in outputs.transactions.get(session, []) if key[0] == "tags"]
    assert key[1] == (vm["device"],)
    assert [operation["row"] for operation in operations] == [{"tag": tag}]


def sent_tags(outputs, session: int) -> dict[str, int]:
    """{port name: tag} the outputs' tags transactions write."""
    names = [name for key in tag_keys(outputs, session) for name in key[1]]
    rows = [operation["row"]["tag"] for key, operations in outputs.transactions.get(session, [])
            if key[0] == "tags" for operation in operations]
    return dict(zip(names, rows, strict=True))


def test_a_tag_edited_by_hand_after_a_restart_is_written_back(cloud):
    """The restarted controller finds the tag in place and writes nothing, so no update
    shows it landing: it counts as settled at once, and the edit is caught."""
    network, _ = cloud.network()
    vm = cloud.vm(network, "n0")
    tag = settled_tag(cloud, vm)
    cloud.restart()
    cloud.databases["n0"].set_tag(vm["device"], tag + 1)
    assert sent_tags(cloud.seen("n0"), cloud.sessions["n0"].id) == {vm["device"]: tag}


def test_a_tag_refused_to_the_last_retry_is_tried_again_at_the_next_change(cloud):
    network, _ = cloud.network()
    session = cloud.sessions["n0"].id
    vm = cloud.vm(network, "n0")
    key = tags_sent_for(cloud, vm)
    for _ in range(TAG_RETRIES + 1):
        cloud.take(cloud.core.ovsdb_replied(session, key, "constraint violation"))
    assert not tag_keys(cloud.sent[-1], session)          # given up
    other = cloud.create("port", network_id=network["id"])
    cloud.databases["n0"].add_port("br-int", "vnet900", 900,
                                   external_ids={"iface-id": other["id"]})
    written = sent_tags(cloud.seen("n0"), session)      # the next change of that br-int
    assert set(written) == {vm["device"], "vnet900"}


def test_a_tag_on_its_way_is_not_recomputed_at_each_update(cloud, monkeypatch):
    """Bulk plugging: while a port's tags transaction is unanswered, the next plugs on
    its br-int recompute their own devices only."""
    network, _ = cloud.network()
    cloud.vm(network, "n0")                               # its tag is in flight
    computed = []
    device_flows = cloud.planner.device_flows
    monkeypatch.setattr(cloud.planner, "device_flows", lambda bridge, device: (
        computed.append(device.name), device_flows(bridge, device))[1])
    later = [cloud.vm(network, "n0") for _ in range(3)]
    assert computed == [vm["device"] for vm in later]
