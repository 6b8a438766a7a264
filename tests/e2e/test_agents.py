"""An agent the operator disables takes no new port bindings, end to end: a VM plugged
into its hypervisor stays DOWN in the dead VLAN and reaches nobody, while the VMs bound
there before keep working; enabling the agent binds the VM that waited."""
from ryu_app.pipeline.tables import DEAD_VLAN
from tests.e2e.dataplane import pings, silent, tag, wait_until
from tests.emulation import agents


def port(api, vm) -> dict:
    return api.get(f"/v2.0/ports/{vm.port_id}")[1]["port"]


def test_a_disabled_agent_binds_nothing_new_until_enabled(cloud, tenants):
    api = cloud.controller.api
    tenant = tenants("drained")
    network, _ = tenant.network("10.71.0.0/24")
    before = tenant.vm(network, 1)            # bound on e1 before it is disabled
    peer = tenant.vm(network, 0)
    assert api.get(f"/v2.0/networks/{network['id']}")[1]["network"][
        "availability_zones"] == ["nova"]
    e1 = agents(cloud.controller)[cloud.hypervisors[1].name]
    status, body = api.put(f"/v2.0/agents/{e1['id']}", {"agent": {"admin_state_up": False}})
    assert status == 200 and body["agent"]["admin_state_up"] is False

    created = api.create("port", network_id=network["id"], project_id="drained")
    late = cloud.boot(created, cloud.hypervisors[1], dhcp=False)
    tenant.vms.append(late)
    wait_until(lambda: port(api, late)["binding:vif_type"] == "binding_failed",
               what="the late port's binding refused")
    refused = port(api, late)
    assert (refused["status"], refused["binding:host_id"]) == ("DOWN", cloud.hypervisors[1].name)
    wait_until(lambda: tag(late) == DEAD_VLAN, what="the late VM in the dead VLAN")
    assert silent(late, peer.ip), "a VM the agent did not bind reached the network"
    assert pings(before, peer.ip), "a VM bound before the agent was disabled lost its network"

    status, _ = api.put(f"/v2.0/agents/{e1['id']}", {"agent": {"admin_state_up": True}})
    assert status == 200
    tenant.wait_wired(late)
    assert port(api, late)["binding:vif_type"] == "ovs"
    assert pings(late, peer.ip)


def test_a_live_migration_keeps_the_source_until_nova_moves_the_binding(cloud, tenants):
    """Nova plugs the destination's VIF while the VM still runs on the source: the source
    keeps the port (the destination's device stays dead) until binding:host_id moves."""
    api = cloud.controller.api
    tenant = tenants("migrating")
    network, _ = tenant.network("10.72.0.0/24")
    source, peer = tenant.vm(network, 1), tenant.vm(network, 0)
    record = port(api, source)
    destination = cloud.boot(record, cloud.hypervisors[2], dhcp=False)   # pre_live_migration
    try:
        assert pings(source, peer.ip)
        assert tag(destination) == DEAD_VLAN and silent(destination, peer.ip)
        assert port(api, source)["binding:host_id"] == cloud.hypervisors[1].name
        status, _ = api.put(f"/v2.0/ports/{source.port_id}", {"port": {
            "binding:host_id": cloud.hypervisors[2].name}})        # post_live_migration
        assert status == 200
        wait_until(lambda: port(api, source)["status"] == "ACTIVE" and tag(destination) not in (
            None, DEAD_VLAN), what="the port bound on the destination")
        assert pings(destination, peer.ip)
        assert tag(source) == DEAD_VLAN
    finally:
        cloud.destroy(destination)


def test_a_host_nova_names_is_bound_at_once_and_its_vm_wired_when_plugged(cloud, tenants):
    """Nova sets binding:host_id, reads binding:vif_type (ovs, or it gives up: before,
    the port said unbound, which Nova's libvirt driver refuses), then plugs the VIF:
    the port is ACTIVE and the VM on its network; a host no hypervisor is fails."""
    api = cloud.controller.api
    tenant = tenants("nova")
    network, _ = tenant.network("10.73.0.0/24")
    peer = tenant.vm(network, 0)
    host = cloud.hypervisors[2].name
    created = api.create("port", network_id=network["id"], project_id="nova",
                         device_owner="compute:nova", **{"binding:host_id": host})
    assert (created["binding:vif_type"], created["status"]) == ("ovs", "DOWN")
    assert created["binding:vif_details"]["datapath_type"] == "netdev"   # os-vif's br-int
    vm = cloud.boot(created, cloud.hypervisors[2], dhcp=False)
    tenant.vms.append(vm)
    tenant.wait_wired(vm)
    assert pings(vm, peer.ip)
    status, body = api.post("/v2.0/ports", {"port": {"network_id": network["id"],
                                                      "binding:host_id": "no-such-host"}})
    assert (status, body["port"]["binding:vif_type"]) == (201, "binding_failed")
