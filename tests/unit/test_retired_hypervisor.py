"""A hypervisor that is gone for good, retired by deleting its agent (offline, through the
core, three hypervisors of tests/unit/fake_cloud.py): the others stop flooding to it and
drop their tunnels and its ports' entries, its ports go DOWN, a router's SNAT moves to
another network node, and a controller that dies before acting on the deletion finishes
it when it starts again."""
import pytest

from ryu_app.ovsdb.protocol import ovs_map
from ryu_app.pipeline.planner import remote_port_group
from ryu_app.pipeline.simulator import arp_request, ipv4
from tests.unit import fake_cloud
from tests.unit.fake_cloud import IPS, FakeCloud, dpid, north_south
from topology.graph import agent_id

CONTROLLER = "tcp:127.0.0.1:6653"


def retire(cloud: FakeCloud, chassis: str) -> None:
    cloud.model.retire_agent(agent_id(chassis), chassis)   # what DELETE /agents/{id} writes
    cloud.written()


def ping(source: dict, target: dict) -> dict:
    return ipv4(source["mac_address"], target["mac_address"],
                source["fixed_ips"][0]["ip_address"], target["fixed_ips"][0]["ip_address"])


def flood(cloud: FakeCloud, vm: dict):
    request = arp_request(vm["mac_address"], vm["fixed_ips"][0]["ip_address"], "10.0.0.99")
    return cloud.send(vm, request)


STORED = ("hypervisor", "dvr_mac", "local_vlan", "local_vlan_cursor", "agent")


def forgotten(cloud: FakeCloud, chassis: str) -> bool:
    """Nothing of the hypervisor is left, in memory or in the store."""
    stored = cloud.model.store.load(STORED)
    return (chassis not in cloud.topology.chassis
            and chassis not in {spec.name for spec in cloud.engine.hypervisors.all()}
            and cloud.dvr_macs.get(chassis) is None
            and not cloud.local_vlans.networks_on(chassis)
            and agent_id(chassis) not in cloud.model.records["agent"]
            and chassis not in {agent["host"] for agent in cloud.topology.agents()}
            and not [key for records in stored.values() for key, record in records.items()
                     if chassis in (key, record.get("chassis"), record.get("host"))
                     or key.startswith(f"{chassis}/")])


@pytest.fixture
def cloud(tmp_path):
    return FakeCloud(tmp_path)


def test_the_others_forget_a_retired_hypervisor_and_its_ports_go_down(cloud):
    network, _ = cloud.network()
    a, b, c = (cloud.vm(network, chassis) for chassis in ("n0", "n1", "n2"))
    mac_of_n1 = cloud.dvr_macs.get("n1")
    cloud.switch_off("n1")
    assert "n1" in {hop.chassis for hop in flood(cloud, a).hops}   # still flooded to
    retire(cloud, "n1")

    assert forgotten(cloud, "n1")
    assert cloud.model.records["port"][b["id"]]["status"] == "DOWN"
    result = flood(cloud, a)
    assert result.delivered_to() == [("n2", c["device"])]
    assert "n1" not in {hop.chassis for hop in result.hops}
    assert not result.of_kind("tunnel to nowhere")
    for chassis in ("n0", "n2"):
        assert IPS["n1"] not in {ip for _, ip in
                                 cloud.engine.target(chassis, CONTROLLER, "netdev").tunnels}
        assert remote_port_group(network["id"], b["id"]) not in cloud.held(chassis, "tun")
        assert not any(mac_of_n1 in repr(flow) for flows in cloud.held(chassis, "int").values()
                       for flow in flows.values())


def test_a_router_whose_snat_host_is_retired_leaves_through_another_network_node(
        tmp_path, monkeypatch):
    monkeypatch.setitem(fake_cloud.SNAT_MODES, "n0", "dvr_snat")   # two network nodes
    cloud = FakeCloud(tmp_path)
    network, subnet = cloud.network()
    router = cloud.router(subnet)
    vm = cloud.vm(network, "n1")
    north_south(cloud, router, network)
    snat_host = cloud.planner.nat.snat_chassis(router["id"])
    other = ({"n0", "n2"} - {snat_host}).pop()
    gateway = cloud.planner.dvr_interfaces(router["id"])[0]
    outward = ipv4(vm["mac_address"], gateway["mac_address"],
                   vm["fixed_ips"][0]["ip_address"], "198.51.100.10")
    assert [out.chassis for out in cloud.send(vm, outward).of_kind("physical")] == [snat_host]
    cloud.switch_off(snat_host)
    retire(cloud, snat_host)
    [out] = cloud.send(vm, outward).of_kind("physical")
    qg = cloud.model.gateway_port_of(router["id"])
    assert (out.chassis, out.packet["ipv4_src"]) == (other, qg["fixed_ips"][0]["ip_address"])


def test_a_disabled_agent_deleted_is_retired_and_binds_nothing_meanwhile(cloud):
    """Disabling drains a hypervisor; deleting it then retires it all the same, and the
    port it refused to bind is not bound there on the way."""
    network, _ = cloud.network()
    cloud.model.update_agent(agent_id("n1"), "n1", {"admin_state_up": False})
    cloud.written()
    refused = cloud.vm(network, "n1")
    cloud.switch_off("n1")
    retire(cloud, "n1")
    assert forgotten(cloud, "n1")
    port = cloud.model.records["port"][refused["id"]]
    assert (port["status"], port["binding:vif_type"]) == ("DOWN", "binding_failed")


@pytest.mark.parametrize("back", ["OVSDB session", "a bridge's OpenFlow connection"])
def test_a_hypervisor_back_before_the_retirement_is_kept_as_the_operator_left_it(
        cloud, back):
    """The deletion raced with its return: it stays, still disabled if it was."""
    network, _ = cloud.network()
    b = cloud.vm(network, "n1")
    cloud.model.update_agent(agent_id("n1"), "n1", {"admin_state_up": False,
                                                   "description": "drained"})
    cloud.written()
    if back == "OVSDB session":
        cloud.core.ovsdb_closed(cloud.sessions["n1"].id)
        cloud.seen("n1", first=True)
    else:
        cloud.switch_off("n1")
        cloud.take(cloud.core.datapath_up(dpid("n1", "tun")))
    retire(cloud, "n1")
    assert "n1" in cloud.topology.chassis and cloud.dvr_macs.get("n1") is not None
    assert cloud.model.agent_settings(agent_id("n1")) == {"admin_state_up": False,
                                                          "description": "drained"}
    assert not cloud.model.retiring_hosts()
    assert "n1" in {agent["host"] for agent in cloud.topology.agents()}
    if back == "OVSDB session":
        assert cloud.model.records["port"][b["id"]]["status"] == "ACTIVE"


def test_a_renamed_hypervisor_keeps_its_switches_when_the_old_name_is_retired(cloud):
    """A new system-id on the same switches (the same datapath ids and tunnel IP): its
    bridges and devices pass to the new name, and retiring the old one leaves them."""
    network, _ = cloud.network()
    a, b = cloud.vm(network, "n0"), cloud.vm(network, "n1")
    cloud.databases["n1"].replica.apply({"Open_vSwitch": {"root": {"modify": {
        "external_ids": ovs_map({"system-id": "n1b"})}}}})
    cloud.seen("n1")
    assert {bridge.chassis for bridge in cloud.topology.bridges.values()
            if bridge.dpid in (dpid("n1", "int"), dpid("n1", "tun"))} == {"n1b"}
    assert cloud.model.records["port"][b["id"]]["binding:host_id"] == "n1b"
    retire(cloud, "n1")
    assert forgotten(cloud, "n1")
    assert cloud.send(a, ping(a, b)).delivered_to() == [("n1b", b["device"])]


def test_a_retirement_a_crash_cut_short_is_finished_at_the_next_start(cloud):
    network, _ = cloud.network()
    a, b, c = (cloud.vm(network, chassis) for chassis in ("n0", "n1", "n2"))
    cloud.switch_off("n1")
    cloud.model.retire_agent(agent_id("n1"), "n1")      # committed; kill -9 before the flush
    cloud.restart(("n0", "n2"))                         # n1 never comes back
    assert forgotten(cloud, "n1")
    assert cloud.model.records["port"][b["id"]]["status"] == "DOWN"
    assert flood(cloud, a).delivered_to() == [("n2", c["device"])]
    assert IPS["n1"] not in {ip for _, ip in
                             cloud.engine.target("n0", CONTROLLER, "netdev").tunnels}
