"""What a hypervisor's database saying something new does to the controller (pure)."""
import pytest

from ryu_app.binding import PortBinder
from ryu_app.chassis import ChassisSync
from ryu_app.model.hypervisors import Hypervisors
from ryu_app.model.store import Store
from ryu_app.pipeline.planner import BASE
from tests.unit.test_planner import PATCH, Cloud, dpid
from topology.chassis import ChassisSpec
from topology.graph import BridgeView
from topology.naming import classify

N3 = ChassisSpec("n3", "172.31.0.13", {"physnet1": "br-eth1"})


@pytest.fixture
def cloud(tmp_path):
    cloud = Cloud(tmp_path)
    cloud.hypervisors = Hypervisors(cloud.store)
    cloud.chassis_sync = ChassisSync(cloud.topology, cloud.hypervisors, cloud.dvr_macs,
                             PortBinder(cloud.model), cloud.wiring)
    return cloud


def n3_views(*devices) -> list[BridgeView]:
    return [BridgeView("br-int", 0x40, (
                classify("patch-tun", PATCH, "patch", {"peer": "patch-int"}), *devices)),
            BridgeView("br-tun", 0x41, (classify("patch-int", PATCH, "patch",
                                                 {"peer": "patch-tun"}),)),
            BridgeView("br-eth1", None)]   # no datapath id yet: not a bridge yet


def test_a_new_hypervisor_is_kept_and_every_other_learns_its_dvr_mac(cloud, tmp_path):
    changes = cloud.chassis_sync.database_seen(N3, n3_views(), full=True)
    assert [b.name for b in changes.bridges_added] == ["br-int", "br-tun"]
    cloud.store.close()
    assert Hypervisors(Store(str(tmp_path / "db.sqlite"))).all() == [N3]
    mac = cloud.dvr_macs.get("n3")
    assert mac is not None and "n3" in cloud.topology.sessions
    assert any(("eth_src", mac) in flow[2] for flow in cloud.flows("n0", "tun", BASE))
    assert cloud.wiring.tunnels_dirty >= {"n0", "n1", "n2", "n3"}
    assert not cloud.topology.alive("n3")           # no OpenFlow connection yet


def test_devices_bind_and_a_reconnect_puts_down_what_went_meanwhile(cloud):
    network, _ = cloud.network()
    here = cloud.create("port", network_id=network["id"])
    gone = cloud.create("port", network_id=network["id"])
    device = classify("vnet0", 7, "", {}, {"iface-id": here["id"]})
    cloud.chassis_sync.database_seen(N3, n3_views(device), full=True)
    cloud.model.bind_port(gone["id"], "n3")   # bound before the controller went away
    target = cloud.chassis_sync.target("n3", "tcp:10.0.0.1:6653", "system")
    assert target.tunnels == frozenset()      # n3 alone on the network
    cloud.chassis_sync.database_seen(N3, n3_views(device), full=True)
    ports = cloud.model.records["port"]
    assert (ports[here["id"]]["status"], ports[here["id"]]["binding:host_id"]) == (
        "ACTIVE", "n3")
    assert ports[gone["id"]]["status"] == "DOWN"
    assert cloud.tags["vnet0"] == cloud.local_vlans.get("n3", network["id"])
    cloud.vm(network, "n0", 5)
    assert cloud.chassis_sync.target("n3", "tcp:10.0.0.1:6653", "system").tunnels == {
        ("vxlan", "172.31.0.10")}
    changes = cloud.chassis_sync.database_seen(N3, n3_views(), full=False)
    assert [port.name for _, port in changes.ports_removed] == ["vnet0"]
    assert ports[here["id"]]["status"] == "DOWN"
    assert dpid("n0", "int") in cloud.topology.bridges
