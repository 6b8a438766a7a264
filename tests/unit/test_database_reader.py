"""A hypervisor's replica read as a chassis and bridges, re-reading only what changed."""
import pytest

from ryu_app.ovsdb.hypervisor import DatabaseReader
from ryu_app.ovsdb.protocol import ovs_set, ref
from tests.unit.fake_cloud import FakeDatabase
from topology.chassis import ChassisSpec

SPEC = ChassisSpec("n0", "172.31.0.10", {"physnet1": "br-eth1"})


@pytest.fixture
def database():
    database = FakeDatabase(SPEC)
    database.build_neutron_bridges(SPEC)
    return database


def by_name(views) -> dict:
    return {view.name: view for view in views}


def test_the_chassis_and_its_bridges_are_read(database):
    reader = DatabaseReader(database.replica)
    assert reader.chassis() == SPEC
    views = by_name(reader.bridges())
    assert set(views) == {"br-int", "br-tun", "br-eth1"}
    assert [port.name for port in views["br-int"].ports] == ["int-br-eth1", "patch-tun"]
    assert {port.kind for port in views["br-tun"].ports} == {"patch", "tunnel"}


def test_a_plugged_device_re_reads_its_bridge_only(database):
    reader = DatabaseReader(database.replica)
    before = by_name(reader.bridges())
    database.add_port("br-int", "vnet5", 105, external_ids={"iface-id": "p1"})
    after = by_name(reader.bridges())
    assert after["br-tun"] is before["br-tun"] and after["br-eth1"] is before["br-eth1"]
    assert [(p.name, p.kind, p.iface_id) for p in after["br-int"].ports
            if p.kind == "vm"] == [("vnet5", "vm", "p1")]
    database.remove_port("vnet5")
    assert [p.name for p in by_name(reader.bridges())["br-int"].ports] == [
        "int-br-eth1", "patch-tun"]


def test_an_ofport_assigned_later_shows_the_port_then(database):
    reader = DatabaseReader(database.replica)
    reader.bridges()
    database.add_port("br-int", "vnet6", 106)
    _, _, interface = database.ports["vnet6"]
    database.replica.apply({"Interface": {interface: {"modify": {"ofport": ["set", []]}}}})
    assert "vnet6" not in [p.name for p in by_name(reader.bridges())["br-int"].ports]
    database.replica.apply({"Interface": {interface: {"modify": {"ofport": 7}}}})
    assert ("vnet6", 7) in [(p.name, p.ofport) for p in by_name(reader.bridges())["br-int"].ports]


def test_a_registration_that_is_wrong_says_why_until_it_is_fixed(database):
    database.replica.apply({"Open_vSwitch": {"root": {"modify": {
        "external_ids": ["map", [["neutron-tunnel-ip", "172.31.0.10"]]]}}}})   # the pair goes
    reader = DatabaseReader(database.replica)
    with pytest.raises(ValueError, match="neutron-tunnel-ip"):
        reader.chassis()
    database.replica.apply({"Open_vSwitch": {"root": {"modify": {
        "external_ids": ["map", [["neutron-tunnel-ip", "172.31.0.10"]]]}}}})   # it is back
    assert reader.chassis() == SPEC


def test_a_port_moved_to_another_bridge_is_followed_there(database):
    reader = DatabaseReader(database.replica)
    database.add_port("br-int", "vnet7", 107)
    reader.bridges()
    _, port, interface = database.ports["vnet7"]
    database.replica.apply({"Bridge": {   # one transaction takes it from br-int to br-tun
        database.bridges["br-int"]: {"modify": {"ports": ovs_set([ref(port)])}},
        database.bridges["br-tun"]: {"modify": {"ports": ovs_set([ref(port)])}}}})
    views = by_name(reader.bridges())
    assert "vnet7" in [p.name for p in views["br-tun"].ports]
    assert "vnet7" not in [p.name for p in views["br-int"].ports]
    database.replica.apply({"Interface": {interface: {"modify": {"ofport": 9}}}})
    assert ("vnet7", 9) in [(p.name, p.ofport) for p in by_name(reader.bridges())["br-tun"].ports]


def test_a_refused_database_does_not_pile_up_its_changes(database):
    reader = DatabaseReader(database.replica)
    for number in range(20):
        database.add_port("br-int", f"vnet{number}", 100 + number)
    reader.reread()
    assert len(database.replica.touched) == 3      # one per bridge, to read afresh
    assert len(by_name(reader.bridges())["br-int"].ports) == 22
