"""A hypervisor whose agent is disabled binds no new port (offline, through the core):
the port fails to bind there and its device is tagged dead; enabling binds it."""
from ryu_app.pipeline import tables as T
from tests.unit.test_l2_behaviour import ping
from tests.unit.fake_cloud import FakeCloud
from topology.chassis import ChassisSpec
from topology.graph import agent_id


def test_a_disabled_agent_refuses_new_bindings_and_enabling_binds_them(tmp_path):
    cloud = FakeCloud(tmp_path)
    network, _ = cloud.network()
    kept = cloud.vm(network, "n1")          # bound before the agent is disabled
    cloud.model.update_agent(agent_id("n1"), "n1", {"admin_state_up": False})
    cloud.written()
    late = cloud.vm(network, "n1")
    assert (late["status"], late["binding:vif_type"], late["binding:host_id"]) == (
        "DOWN", "binding_failed", "n1")
    assert cloud.engine.tags("n1", [late["device"]]) == {late["device"]: T.DEAD_VLAN}
    assert cloud.model.records["port"][kept["id"]]["status"] == "ACTIVE"
    elsewhere = cloud.vm(network, "n0")     # other hypervisors are not concerned
    assert elsewhere["status"] == "ACTIVE"

    cloud.model.update_agent(agent_id("n1"), "n1", {"admin_state_up": True})
    cloud.written()
    bound = cloud.model.records["port"][late["id"]]
    assert (bound["status"], bound["binding:vif_type"]) == ("ACTIVE", "ovs")
    assert cloud.engine.tags("n1", [late["device"]])[late["device"]] != T.DEAD_VLAN


def test_a_device_on_a_disabled_hypervisor_never_takes_a_live_port_away(tmp_path):
    cloud = FakeCloud(tmp_path)
    network, _ = cloud.network()
    live = cloud.vm(network, "n0")
    cloud.model.update_agent(agent_id("n1"), "n1", {"admin_state_up": False})
    cloud.written()
    stale = cloud.plug("n1", live["id"])   # e.g. a migration's early plug
    port = cloud.model.records["port"][live["id"]]
    assert (port["status"], port["binding:host_id"], port["binding:vif_type"]) == (
        "ACTIVE", "n0", "ovs")
    assert cloud.engine.tags("n1", [stale]) == {stale: T.DEAD_VLAN}


def test_a_live_migration_moves_the_port_when_nova_moves_its_binding(tmp_path):
    """Nova plugs the destination's VIF while the VM runs on the source, and moves
    binding:host_id when the VM has moved: until then the source keeps the port (even
    across an OVSDB reconnect of the source), after it the destination has it."""
    cloud = FakeCloud(tmp_path)
    network, _ = cloud.network()
    vm = cloud.vm(network, "n1")
    destination = cloud.plug("n2", vm["id"])                  # pre_live_migration
    cloud.seen("n1", first=True)                              # the source reconnects
    port = cloud.model.records["port"][vm["id"]]
    assert (port["status"], port["binding:host_id"]) == ("ACTIVE", "n1")
    assert cloud.engine.tags("n2", [destination]) == {destination: T.DEAD_VLAN}
    assert cloud.engine.tags("n1", [vm["device"]])[vm["device"]] != T.DEAD_VLAN
    cloud.update("port", vm["id"], **{"binding:host_id": "n2"})   # post_live_migration
    port = cloud.model.records["port"][vm["id"]]
    assert (port["status"], port["binding:host_id"], port["binding:vif_type"]) == (
        "ACTIVE", "n2", "ovs")
    assert cloud.engine.tags("n2", [destination])[destination] != T.DEAD_VLAN
    assert cloud.engine.tags("n1", [vm["device"]]) == {vm["device"]: T.DEAD_VLAN}


def test_an_aborted_migration_leaves_the_port_on_its_source(tmp_path):
    cloud = FakeCloud(tmp_path)
    network, _ = cloud.network()
    vm = cloud.vm(network, "n1")
    cloud.unplug("n2", cloud.plug("n2", vm["id"]))            # rollback at the destination
    port = cloud.model.records["port"][vm["id"]]
    assert (port["status"], port["binding:host_id"]) == ("ACTIVE", "n1")
    assert cloud.engine.tags("n1", [vm["device"]])[vm["device"]] != T.DEAD_VLAN


def test_a_port_nova_gave_a_host_binds_only_there_even_once_its_device_is_gone(tmp_path):
    cloud = FakeCloud(tmp_path)
    network, _ = cloud.network()
    port = cloud.create("port", network_id=network["id"], **{"binding:host_id": "n0"})
    stray = cloud.plug("n1", port["id"])
    assert cloud.model.records["port"][port["id"]]["status"] == "DOWN"
    cloud.plug("n0", port["id"])
    assert cloud.model.records["port"][port["id"]]["status"] == "ACTIVE"
    cloud.unplug("n0", cloud.topology.devices_of(port["id"])["n0"].name)   # the VM stops
    cloud.seen("n1", first=True)       # n1's OVSDB reconnects: its stale device is read
    down = cloud.model.records["port"][port["id"]]
    assert (down["status"], down["binding:host_id"]) == ("DOWN", "n0")
    assert cloud.engine.tags("n1", [stray]) == {stray: T.DEAD_VLAN}
    cloud.plug("n0", port["id"])                                 # the VM starts again
    assert cloud.model.records["port"][port["id"]]["status"] == "ACTIVE"


def test_a_migrated_port_stays_with_its_destination_when_the_vm_stops(tmp_path):
    """After a live migration the source's old device may linger: once the VM stops on
    the destination, a rescan of the source must not hand it the port."""
    cloud = FakeCloud(tmp_path)
    network, _ = cloud.network()
    vm = cloud.vm(network, "n1")
    destination = cloud.plug("n2", vm["id"])
    cloud.update("port", vm["id"], **{"binding:host_id": "n2"})
    cloud.unplug("n2", destination)                              # the VM stops
    cloud.seen("n1", first=True)
    port = cloud.model.records["port"][vm["id"]]
    assert (port["status"], port["binding:host_id"]) == ("DOWN", "n2")
    cloud.plug("n2", vm["id"])
    port = cloud.model.records["port"][vm["id"]]
    assert (port["status"], port["binding:host_id"]) == ("ACTIVE", "n2")


def test_a_port_its_device_bound_moves_with_its_next_device(tmp_path):
    """Without Nova no host is named: a cold move (the device goes, another hypervisor
    plugs one) takes the port along."""
    cloud = FakeCloud(tmp_path)
    network, _ = cloud.network()
    vm = cloud.vm(network, "n0")
    cloud.unplug("n0", vm["device"])
    cloud.plug("n2", vm["id"])
    moved = cloud.model.records["port"][vm["id"]]
    assert (moved["status"], moved["binding:host_id"]) == ("ACTIVE", "n2")


def test_a_device_replaced_on_its_hypervisor_hands_the_port_to_the_new_one(tmp_path):
    """libvirt re-creates an interface: the new device (same iface-id) is added before the
    old one goes. The newest is the port's, the old one dead; the old one's removal does
    not put the port down."""
    cloud = FakeCloud(tmp_path)
    network, _ = cloud.network()
    cloud.vm(network, "n0")
    vm = cloud.vm(network, "n1")
    new = cloud.plug("n1", vm["id"])
    assert cloud.engine.tags("n1", [vm["device"], new]) == {
        vm["device"]: T.DEAD_VLAN, new: cloud.local_vlans.get("n1", network["id"])}
    cloud.unplug("n1", vm["device"])
    port = cloud.model.records["port"][vm["id"]]
    assert (port["status"], port["binding:host_id"]) == ("ACTIVE", "n1")
    assert cloud.engine.tags("n1", [new])[new] != T.DEAD_VLAN
    assert any(group[0] == "remote" and group[2] == vm["id"]
               for group in cloud.held("n0", "tun"))       # n0 still reaches it


def test_the_newer_of_two_devices_removed_first_leaves_the_port_on_the_older(tmp_path):
    cloud = FakeCloud(tmp_path)
    network, _ = cloud.network()
    vm = cloud.vm(network, "n1")
    cloud.unplug("n1", cloud.plug("n1", vm["id"]))          # a new device, gone again
    assert cloud.model.records["port"][vm["id"]]["status"] == "ACTIVE"
    assert cloud.engine.tags("n1", [vm["device"]])[vm["device"]] == cloud.local_vlans.get(
        "n1", network["id"])


def test_after_a_restart_the_newer_of_two_devices_is_still_the_ports(tmp_path):
    """The restarted controller reads both devices at once: the newer is the one Open
    vSwitch gave the higher ofport (it counts up), not the one whose name sorts last."""
    cloud = FakeCloud(tmp_path)
    network, _ = cloud.network()
    port = cloud.create("port", network_id=network["id"])
    older = cloud.plug("n1", port["id"], name="vnet9")
    newer = cloud.plug("n1", port["id"], name="vnet10")      # sorts before "vnet9"
    lvid = cloud.local_vlans.get("n1", network["id"])
    assert cloud.engine.tags("n1", [older, newer]) == {older: T.DEAD_VLAN, newer: lvid}
    cloud.restart()
    assert cloud.engine.tags("n1", [older, newer]) == {older: T.DEAD_VLAN, newer: lvid}


def test_of_three_devices_the_newest_left_takes_the_port_when_the_newest_goes(tmp_path):
    cloud = FakeCloud(tmp_path)
    network, _ = cloud.network()
    vm = cloud.vm(network, "n1")
    middle = cloud.plug("n1", vm["id"])
    cloud.unplug("n1", cloud.plug("n1", vm["id"]))          # the newest, gone again
    lvid = cloud.local_vlans.get("n1", network["id"])
    assert cloud.engine.tags("n1", [vm["device"], middle]) == {
        vm["device"]: T.DEAD_VLAN, middle: lvid}


def test_a_host_the_api_names_binds_at_once_where_a_known_hypervisor_can_carry_it(tmp_path):
    """As ML2 binds (Nova reads binding:vif_type before it plugs the VIF): ovs on a known,
    enabled hypervisor, DOWN until the device is there, also while it is away (a
    controller restart, a bridge reconnecting: Neutron counts an agent alive for 75 s);
    binding_failed on an unknown host or one whose agent is disabled; naming the host
    again retries, as Nova does, and binds a port stored unbound with its host."""
    cloud = FakeCloud(tmp_path)
    network, _ = cloud.network()
    port = cloud.create("port", network_id=network["id"], **{"binding:host_id": "n1"})
    assert (port["binding:vif_type"], port["status"]) == ("ovs", "DOWN")
    # as ML2's OVS driver details them: Nova's os-vif makes br-int with this datapath
    assert port["binding:vif_details"] == {
        "port_filter": True, "ovs_hybrid_plug": False, "bridge_name": "br-int",
        "datapath_type": "netdev", "connectivity": "l2"}
    cloud.plug("n1", port["id"])
    bound = cloud.model.records["port"][port["id"]]
    assert (bound["status"], bound["binding:vif_details"]) == ("ACTIVE",
                                                              port["binding:vif_details"])
    nowhere = cloud.create("port", network_id=network["id"], **{"binding:host_id": "n9"})
    assert (nowhere["binding:vif_type"], nowhere["status"]) == ("binding_failed", "DOWN")
    cloud.switch_off("n2")
    away = cloud.create("port", network_id=network["id"], **{"binding:host_id": "n2"})
    assert away["binding:vif_type"] == "ovs"
    cloud.reconnect("n2")
    details, cloud.model.vif_details = cloud.model.vif_details, None
    stored = cloud.create("port", network_id=network["id"], **{"binding:host_id": "n2"})
    cloud.model.vif_details = details          # as a port was stored before
    assert stored["binding:vif_type"] == "unbound"
    again = cloud.update("port", stored["id"], **{"binding:host_id": "n2"})
    assert again["binding:vif_type"] == "ovs"
    cloud.model.update_agent(agent_id("n0"), "n0", {"admin_state_up": False})
    cloud.written()
    refused = cloud.create("port", network_id=network["id"], **{"binding:host_id": "n0"})
    assert refused["binding:vif_type"] == "binding_failed"
    unbound = cloud.update("port", refused["id"], **{"binding:host_id": ""})
    assert (unbound["binding:vif_type"], unbound["binding:host_id"]) == ("unbound", "")


def test_a_device_never_binds_a_port_where_its_network_cannot_be_carried(tmp_path):
    """A flat network on physnet2, which no hypervisor here maps: the API's binding
    fails, and so does the device's plug (before, it made the port ACTIVE there)."""
    cloud = FakeCloud(tmp_path)
    network, _ = cloud.network(network_type="flat", physical_network="physnet2")
    port = cloud.create("port", network_id=network["id"], **{"binding:host_id": "n1"})
    assert port["binding:vif_type"] == "binding_failed"
    device = cloud.plug("n1", port["id"])
    held = cloud.model.records["port"][port["id"]]
    assert (held["binding:vif_type"], held["status"]) == ("binding_failed", "DOWN")
    assert cloud.engine.tags("n1", [device]) == {device: T.DEAD_VLAN}


def test_a_vlan_or_flat_network_binds_only_where_its_physical_network_is_mapped():
    spec = ChassisSpec("n0", "192.0.2.10", {"physnet1": "br-eth1"})
    assert spec.carries({"provider:network_type": "vxlan", "provider:physical_network": None})
    for kind in ("vlan", "flat"):
        assert spec.carries({"provider:network_type": kind,
                             "provider:physical_network": "physnet1"})
        assert not spec.carries({"provider:network_type": kind,
                                 "provider:physical_network": "physnet2"})


def test_a_device_plugged_elsewhere_while_the_port_was_held_takes_it_when_freed(tmp_path):
    """A port no one gave a host follows its devices: one that appeared on n1 while n0's
    still held the port takes it once n0's goes, also when n0's went while n0 was away;
    before, it stayed dead until its hypervisor's database was read afresh."""
    cloud = FakeCloud(tmp_path)
    network, _ = cloud.network()
    vm, peer = cloud.vm(network, "n0"), cloud.vm(network, "n2")
    moved = cloud.plug("n1", vm["id"])
    cloud.unplug("n0", vm["device"])
    port = cloud.model.records["port"][vm["id"]]
    assert (port["binding:host_id"], port["status"]) == ("n1", "ACTIVE")
    assert cloud.send(peer, ping(peer, port)).delivered_to() == [("n1", moved)]
    cloud.switch_off("n1")
    cloud.databases["n1"].remove_port(moved)     # unplugged while n1 is away
    again = cloud.plug("n0", vm["id"])
    cloud.reconnect("n1")
    port = cloud.model.records["port"][vm["id"]]
    assert (port["binding:host_id"], port["status"]) == ("n0", "ACTIVE")
    assert cloud.engine.tags("n0", [again])[again] != T.DEAD_VLAN


def test_an_agent_shows_the_datapath_type_its_bridges_are_made_with(tmp_path):
    """A hypervisor that names none gets the controller's (netdev here); before, its
    agent showed null."""
    cloud = FakeCloud(tmp_path)
    assert cloud.specs["n0"].datapath_type is None
    assert {agent["configurations"]["datapath_type"] for agent in cloud.core.agents()} == {
        "netdev"}


def test_a_vnic_other_than_normal_is_taken_and_never_bound_here(tmp_path):
    """As with ML2's OVS driver alone: an SR-IOV or bare-metal port is a port (before, a
    400), whose binding fails at the API and when a device names it."""
    cloud = FakeCloud(tmp_path)
    network, _ = cloud.network()
    port = cloud.create("port", network_id=network["id"], **{
        "binding:vnic_type": "direct", "binding:host_id": "n1"})
    assert (port["binding:vnic_type"], port["binding:vif_type"]) == ("direct",
                                                                     "binding_failed")
    device = cloud.plug("n1", port["id"])
    held = cloud.model.records["port"][port["id"]]
    assert (held["binding:vif_type"], held["status"]) == ("binding_failed", "DOWN")
    assert cloud.engine.tags("n1", [device]) == {device: T.DEAD_VLAN}
    normal = cloud.update("port", port["id"], **{"binding:vnic_type": "normal",
                                                 "binding:host_id": "n1"})
    assert normal["binding:vif_type"] == "ovs"
