"""What the controller builds on a hypervisor, planned from a real ovsdb-server's replica
and committed to it: bridges, patches, tunnels, nothing twice, nothing of the operator's
removed.  (An ovsdb-server alone: no switch needed to check the database.)"""
import shutil
import tempfile
from pathlib import Path

import pytest

from ryu_app.ovsdb import provisioning
from ryu_app.ovsdb.protocol import transact_request, transaction_error
from tests.hypervisors.ovsdb_server import Database
from topology.chassis import ChassisSpec

CONTROLLER = "tcp:10.254.0.1:6653"
SPEC = ChassisSpec("hv0", "172.16.0.10", {"physnet1": "br-eth1"})


@pytest.fixture
def db():
    directory = Path(tempfile.mkdtemp(prefix="neutron-ryu-ovsdb-"))
    database = Database(directory)
    database.vsctl("add-br", "br-eth1", "--", "add-port", "br-eth1", "eth2")   # the operator's
    yield database
    database.stop()
    shutil.rmtree(directory, ignore_errors=True)


def target(tunnels=(), spec=SPEC, datapath_type="netdev") -> provisioning.Target:
    return provisioning.Target(spec, datapath_type, CONTROLLER, frozenset(tunnels))


def test_bridges_first_then_their_patch_pairs_then_nothing(db):
    assert db.apply(target()) == [("bridge", "br-int"), ("bridge", "br-tun"),
                                  ("settings", "br-eth1")]
    assert sorted(db.apply(target())) == [("patch", "patch-tun", "patch-int"),
                                          ("patch", "phy-br-eth1", "int-br-eth1")]
    assert db.apply(target()) == []
    assert sorted(db.vsctl("list-br").split()) == ["br-eth1", "br-int", "br-tun"]
    for bridge in ("br-int", "br-tun", "br-eth1"):
        assert db.vsctl("get", "bridge", bridge, "fail_mode") == "secure"
        assert db.vsctl("get", "bridge", bridge, "protocols") == '[OpenFlow13]'
        assert db.vsctl("get-controller", bridge) == CONTROLLER
        assert db.vsctl("get", "bridge", bridge, "other_config:datapath-id") == \
            f'"{provisioning.datapath_id("hv0", bridge)}"'
    assert db.vsctl("get", "bridge", "br-int", "datapath_type") == "netdev"
    assert db.vsctl("get", "bridge", "br-int", "external_ids:created-by") == "neutron-ryu"
    assert "created-by" not in db.vsctl("get", "bridge", "br-eth1", "external_ids")
    peers = {port: db.vsctl("get", "interface", port, "options:peer").strip('"')
             for port in ("patch-tun", "patch-int", "int-br-eth1", "phy-br-eth1")}
    assert peers == {"patch-tun": "patch-int", "patch-int": "patch-tun",
                     "int-br-eth1": "phy-br-eth1", "phy-br-eth1": "int-br-eth1"}
    assert db.vsctl("list-ports", "br-eth1").split() == ["eth2", "phy-br-eth1"]


def test_a_bridge_pointed_elsewhere_is_pointed_back(db):
    while db.apply(target()):
        pass
    db.vsctl("set-controller", "br-int", "tcp:192.0.2.1:6653", "--", "set", "bridge",
             "br-int", "fail_mode=standalone")
    assert db.apply(target()) == [("settings", "br-int")]
    assert db.vsctl("get-controller", "br-int") == CONTROLLER
    assert db.vsctl("get", "bridge", "br-int", "fail_mode") == "secure"
    assert db.apply(target()) == []


def test_tunnels_follow_the_target_and_the_operators_ports_stay(db):
    while db.apply(target()):
        pass
    db.vsctl("add-port", "br-tun", "vxlan-c0000201", "--", "set", "interface",
             "vxlan-c0000201", "type=vxlan", "options:remote_ip=192.0.2.1")   # not ours
    wanted = {("vxlan", "172.16.0.11"), ("gre", "172.16.0.12"), ("vxlan", "192.0.2.1")}
    assert sorted(db.apply(target(wanted))) == [("port", "gre-ac10000c"),
                                                ("port", "vxlan-ac10000b")]
    assert db.apply(target(wanted)) == []
    assert db.options("vxlan-ac10000b") == {
        "df_default": "true", "in_key": "flow", "out_key": "flow", "local_ip": "172.16.0.10",
        "remote_ip": "172.16.0.11"}
    assert db.vsctl("get", "interface", "gre-ac10000c", "type") == "gre"
    assert db.apply(target({("gre", "172.16.0.12")})) == [("port", "vxlan-ac10000b")]
    ports = db.vsctl("list-ports", "br-tun").split()
    assert ports == ["gre-ac10000c", "patch-int", "vxlan-c0000201"]   # the operator's stays
    assert db.vsctl("get", "interface", "vxlan-c0000201", "options:remote_ip") == '"192.0.2.1"'


def test_a_mapping_dropped_takes_our_patches_with_it_but_not_the_bridge(db):
    while db.apply(target()):
        pass
    unmapped = ChassisSpec("hv0", "172.16.0.10")
    assert sorted(db.apply(target(spec=unmapped))) == [("port", "int-br-eth1"),
                                                       ("port", "phy-br-eth1")]
    assert db.vsctl("list-ports", "br-eth1").split() == ["eth2"]
    assert "br-eth1" in db.vsctl("list-br").split()


def test_bridges_get_the_hypervisors_datapath_type(db):
    db.apply(target(datapath_type="system"))
    assert db.vsctl("get", "bridge", "br-tun", "datapath_type") == "system"


def test_a_bridge_of_another_datapath_type_gets_the_one_wanted(db):
    """As Neutron's agent sets it on each bridge (add_br, may_exist): before, only the
    bridges the controller made got it, and an agent showed a type they did not have."""
    while db.apply(target()):
        pass
    db.vsctl("set", "bridge", "br-int", "datapath_type=system")
    assert db.apply(target()) == [("settings", "br-int")]
    assert db.vsctl("get", "bridge", "br-int", "datapath_type") == "netdev"
    assert db.apply(target()) == []


def test_a_vm_port_is_retagged_only_when_its_tag_differs(db):
    while db.apply(target()):
        pass
    db.vsctl("add-port", "br-int", "vnet0", "tag=4095", "--", "add-port", "br-int", "vnet1",
             "tag=3")
    operations, changed = provisioning.retag(db.replica(), {"vnet0": 3, "vnet1": 3})
    assert changed == ["vnet0"]
    assert transaction_error(db.call(transact_request(3, operations))["result"]) is None
    assert db.vsctl("get", "port", "vnet0", "tag") == "3"
    assert provisioning.retag(db.replica(), {"vnet0": 3, "vnet-gone": 3}) == ([], [])
