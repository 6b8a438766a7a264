"""The engine: plain events in, what to send out, each piece recomputed once per batch."""
import collections

import pytest

from ryu_app.pipeline.planner import BASE
from tests.unit.test_planner import CHASSIS, PATCH, Cloud, dpid
from topology.chassis import ChassisSpec
from topology.graph import BridgeView
from topology.naming import classify

N3 = ChassisSpec("n3", "172.31.0.13", {"physnet1": "br-eth1"})


@pytest.fixture
def cloud(tmp_path):
    return Cloud(tmp_path)


def n3_views(*devices) -> list[BridgeView]:
    return [BridgeView("br-int", 0x40, (
                classify("patch-tun", PATCH, "patch", {"peer": "patch-int"}), *devices)),
            BridgeView("br-tun", 0x41, (classify("patch-int", PATCH, "patch",
                                                 {"peer": "patch-tun"}),)),
            BridgeView("br-eth1", None)]   # no datapath id yet: not a bridge yet


def test_a_new_hypervisor_is_kept_and_every_other_learns_its_dvr_mac(cloud, tmp_path):
    changes = cloud.engine.database_seen(N3, n3_views(), full=True)
    outputs = cloud.written()
    assert [b.name for b in changes.bridges_added] == ["br-int", "br-tun"]
    assert N3 in cloud.engine.hypervisors.all()
    mac = cloud.dvr_macs.get("n3")
    assert mac is not None and "n3" in cloud.topology.sessions
    assert any(("eth_src", mac) in flow[2] for flow in cloud.flows("n0", "tun", BASE))
    assert "n3" in outputs.provision
    assert not cloud.topology.alive("n3")           # no OpenFlow connection yet


def test_devices_bind_and_a_reconnect_puts_down_what_went_meanwhile(cloud):
    network, _ = cloud.network()
    here = cloud.create("port", network_id=network["id"])
    gone = cloud.create("port", network_id=network["id"])
    device = classify("vnet0", 7, "", {}, {"iface-id": here["id"]})
    cloud.engine.database_seen(N3, n3_views(device), full=True)
    cloud.written()
    cloud.model.bind_port(gone["id"], "n3")   # bound before the controller went away
    cloud.written()
    assert cloud.engine.target("n3", "tcp:10.0.0.1:6653", "system").tunnels == frozenset()
    cloud.engine.database_seen(N3, n3_views(device), full=True)
    cloud.written()
    ports = cloud.model.records["port"]
    assert (ports[here["id"]]["status"], ports[here["id"]]["binding:host_id"]) == (
        "ACTIVE", "n3")
    assert ports[gone["id"]]["status"] == "DOWN"
    assert cloud.tags["vnet0"] == cloud.local_vlans.get("n3", network["id"])
    cloud.vm(network, "n0", 5)
    assert cloud.engine.target("n3", "tcp:10.0.0.1:6653", "system").tunnels == {
        ("vxlan", "172.31.0.10")}
    changes = cloud.engine.database_seen(N3, n3_views(), full=False)
    cloud.written()
    assert [port.name for _, port in changes.ports_removed] == ["vnet0"]
    assert ports[here["id"]]["status"] == "DOWN"


def test_fifty_ports_plugged_at_once_recompute_each_network_once_per_chassis(cloud):
    networks = [cloud.network()[0] for _ in range(5)]
    for network in networks:   # every network already on n0 and n1
        cloud.vm(network, "n0", 100 + len(cloud.devices["n0"]))
        cloud.vm(network, "n1", 100 + len(cloud.devices["n1"]))
    ports = [cloud.create("port", network_id=networks[i % 5]["id"]) for i in range(50)]
    devices = [classify(f"vnet{i}", 200 + i, "", {}, {"iface-id": port["id"]})
               for i, port in enumerate(ports)]
    cloud.devices["n2"] += devices
    outputs = cloud.sync("n2")     # one look at n2's database: fifty new devices
    assert all(cloud.model.records["port"][p["id"]]["status"] == "ACTIVE" for p in ports)
    assert outputs.recomputed == collections.Counter(
        {(network["id"], chassis): 1 for network in networks for chassis in CHASSIS})
    # one batch of flow-mods per bridge: n2's br-int (fifty devices) and every br-tun
    assert sorted(outputs.flow_mods) == sorted(
        [dpid("n2", "int")] + [dpid(chassis, "tun") for chassis in CHASSIS])
