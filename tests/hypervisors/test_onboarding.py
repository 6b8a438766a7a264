"""Hypervisors join with two commands and the controller builds the rest: the real
ryu-manager, three hypervisors each with its own Open vSwitch, Mininet VMs."""
import json

import pytest

from ryu_app.ovsdb.provisioning import tunnel_options
from ryu_app.pipeline.tables import DEAD_VLAN
from tests.e2e.dataplane import pings, tag, tunnel_ports, wait_until
from tests.emulation import agents, all_alive, serving, started_cloud
from topology.naming import tunnel_port_name



@pytest.fixture(scope="module")
def fabric():
    yield from serving(started_cloud(3, "o", 31))


def options(hypervisor, interface: str) -> dict:
    listing = json.loads(hypervisor.vsctl("--format=json", "--columns=options", "list",
                                          "interface", interface))
    return dict(listing["data"][0][0][1])


def test_three_hypervisors_join_with_two_commands(fabric):
    ctl = fabric.controller
    assert agents(ctl) == {}
    fabric.onboard(ctl.ovsdb_port)
    ctl.wait_for(lambda: all_alive(ctl, 3), timeout=30)
    for hypervisor in fabric.hypervisors:
        agent = agents(ctl)[hypervisor.name]["configurations"]
        assert (agent["tunneling_ip"], agent["bridge_mappings"], agent["datapath_type"]) == (
            hypervisor.tunnel_ip, {"physnet1": "br-eth1"}, "netdev")
        assert sorted(hypervisor.vsctl("list-br").split()) == [
            "br-eth1", "br-int", "br-phy", "br-tun"]
        for bridge in ("br-int", "br-tun", "br-eth1"):
            assert hypervisor.vsctl("get", "bridge", bridge, "fail_mode").strip() == "secure"
            assert hypervisor.vsctl("get-controller", bridge).strip() == \
                f"tcp:{fabric.controller_ip}:{ctl.of_port}"
        assert hypervisor.vsctl("get-controller", "br-phy").strip() == ""   # the operator's
        assert hypervisor.vsctl("get", "bridge", "br-phy", "fail_mode").strip() == "[]"
        assert sorted(hypervisor.vsctl("list-ports", "br-int").split()) == [
            "int-br-eth1", "patch-tun"]
        assert hypervisor.vsctl("list-ports", "br-tun").split() == ["patch-int"]
        assert options(hypervisor, "int-br-eth1") == {"peer": "phy-br-eth1"}
        assert tunnel_ports(hypervisor) == []   # no network shared yet
    topology = ctl.api.get("/v2.0/topology")[1]["topology"]
    edges = {(e["source"], e["target"], e["kind"]) for e in topology["edges"]}
    assert ("o1/br-int/patch-tun", "o1/br-tun/patch-int", "patch") in edges or \
        ("o1/br-tun/patch-int", "o1/br-int/patch-tun", "patch") in edges
    assert ("o2/br-eth1/eth2", "external:o2:eth2", "physical") in edges
    assert not [edge for edge in edges if edge[2] == "tunnel"]


def test_the_openstack_client_lists_the_agents(fabric):
    listed = fabric.controller.openstack("network", "agent", "list")
    assert sorted((a["Host"], a["Agent Type"], a["Alive"]) for a in listed) == [
        (f"o{i}", "Open vSwitch agent", True) for i in range(3)]


def test_the_first_shared_network_brings_tunnels_and_the_last_port_takes_them(
        fabric, tenant):
    o0, o1, o2 = fabric.hypervisors
    vxlan, _ = tenant.network("10.31.0.0/24")
    gre, _ = tenant.network("10.32.0.0/24", network_type="gre")
    a = tenant.vm(vxlan, 0)
    assert [tunnel_ports(h) for h in fabric.hypervisors] == [[], [], []]
    b = tenant.vm(vxlan, 1)
    to_o1, to_o0 = (tunnel_port_name("vxlan", h.tunnel_ip) for h in (o1, o0))
    wait_until(lambda: tunnel_ports(o0) == [to_o1] and tunnel_ports(o1) == [to_o0],
               what="a VXLAN tunnel between o0 and o1")
    assert options(o0, to_o1) == tunnel_options(o0.tunnel_ip, o1.tunnel_ip)
    assert options(o1, to_o0) == tunnel_options(o1.tunnel_ip, o0.tunnel_ip)
    assert tunnel_ports(o2) == []
    assert pings(a, b.ip)
    c, d = tenant.vm(gre, 1), tenant.vm(gre, 2)
    gre_to_o2 = tunnel_port_name("gre", o2.tunnel_ip)
    wait_until(lambda: gre_to_o2 in tunnel_ports(o1), what="a GRE tunnel from o1 to o2")
    assert tunnel_ports(o2) == [tunnel_port_name("gre", o1.tunnel_ip)]
    assert pings(c, d.ip)
    for vm in (a, c):
        fabric.destroy(vm)
        tenant.vms.remove(vm)
    wait_until(lambda: [tunnel_ports(h) for h in fabric.hypervisors] == [[], [], []],
               what="every tunnel gone with the last shared port")


def test_vms_bind_by_iface_id_or_by_their_tap_name(fabric, tenant):
    network, _ = tenant.network("10.33.0.0/24")
    by_id = tenant.vm(network, 2)
    assert by_id.device.startswith("vnet")          # not a name the tap rule reads
    by_name = tenant.vm(network, 2, iface_id=False)
    assert by_name.device == "tap" + by_name.port_id[:11]
    for vm in (by_id, by_name):
        port = tenant.api.get(f"/v2.0/ports/{vm.port_id}")[1]["port"]
        assert (port["status"], port["binding:host_id"]) == ("ACTIVE", "o2")
    assert tag(by_id) == tag(by_name) != DEAD_VLAN
    assert pings(by_id, by_name.ip)


@pytest.mark.parametrize("iface_id", ["00000000-0000-0000-0000-000000000000", None])
def test_a_device_naming_no_known_port_stays_in_the_dead_vlan(fabric, iface_id):
    """Plugged untagged (not as Nova plugs, in the dead VLAN): with an unknown port id,
    or with none and a name the tap rule does not read."""
    hypervisor = fabric.hypervisors[0]
    external_ids = [f"external_ids:iface-id={iface_id}"] if iface_id else []
    hypervisor.vsctl("add-port", "br-int", "vnet-stray", "--", "set", "interface",
                     "vnet-stray", "type=internal", *external_ids)
    try:
        wait_until(lambda: "device vnet-stray on o0 names no known port" in
                   fabric.controller.log(), what="the stray device logged")
        stray = type("Stray", (), {"hypervisor": hypervisor, "device": "vnet-stray"})
        wait_until(lambda: tag(stray) == DEAD_VLAN, what="the stray device in the dead VLAN")
    finally:
        hypervisor.vsctl("--if-exists", "del-port", "br-int", "vnet-stray")


def database_rows(hypervisor) -> dict[str, int]:
    """How many rows each table holds that the controller writes."""
    return {table: len(json.loads(hypervisor.vsctl("--format=json", "--columns=_uuid",
                                                   "list", table))["data"])
            for table in ("Bridge", "Port", "Interface", "Controller")}


def test_a_restarted_controller_unplugged_ports_go_down_and_nothing_is_built_twice(
        fabric, tenant):
    network, _ = tenant.network("10.34.0.0/24")
    a, b, c = tenant.vm(network, 0), tenant.vm(network, 1), tenant.vm(network, 1)
    rows = {h.name: database_rows(h) for h in fabric.hypervisors}
    ctl = fabric.controller
    ctl.kill()
    fabric.unplug(b)   # while nobody watches
    rows["o1"] = database_rows(fabric.hypervisors[1])
    ctl.start()
    ctl.wait_for(lambda: all_alive(ctl, 3), timeout=30)
    ctl.wait_for(lambda: ctl.api.get(f"/v2.0/ports/{b.port_id}")[1]["port"]["status"]
                 == "DOWN", timeout=20)
    assert ctl.api.get(f"/v2.0/ports/{a.port_id}")[1]["port"]["status"] == "ACTIVE"
    assert pings(a, c.ip)
    assert {h.name: database_rows(h) for h in fabric.hypervisors} == rows
