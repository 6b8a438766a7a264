"""A hypervisor whose agent is disabled binds no new port (offline, through the core):
the port fails to bind there and its device is tagged dead; enabling binds it."""
from ryu_app.pipeline import tables as T
from tests.unit.fake_cloud import FakeCloud
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
