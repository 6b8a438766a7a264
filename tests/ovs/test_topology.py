"""Topology and port binding discovered from real OVS bridges connected to the controller."""
import shutil
import subprocess

import pytest

from tests.harness import Controller
from topology.naming import tunnel_port_name

CHASSIS = [
    "t0 tunnel_ip=172.31.9.10 int_bridge=t0-int tun_bridge=t0-tun bridge_mappings=physnet1:t0-eth1",
    "t1 tunnel_ip=172.31.9.11 int_bridge=t1-int tun_bridge=t1-tun bridge_mappings=physnet1:t1-eth1",
    "t2 tunnel_ip=172.31.9.12 int_bridge=t2-int tun_bridge=t2-tun",
]


def vsctl(*args: str) -> str:
    return subprocess.run(["ovs-vsctl", "--timeout=10", *args], check=True,
                          capture_output=True, text=True).stdout


def patch(bridge: str, name: str, peer: str) -> list[str]:
    return ["--", "add-port", bridge, name, "--", "set", "interface", name, "type=patch",
            f"options:peer={peer}"]


def build_chassis(name: str, remote_ips: list[str], of_port: int) -> None:
    int_br, tun_br, phys_br = f"{name}-int", f"{name}-tun", f"{name}-eth1"
    for bridge in (int_br, tun_br, phys_br):
        vsctl("--may-exist", "add-br", bridge, "--", "set", "bridge", bridge,
              "datapath_type=netdev", "protocols=OpenFlow13")  # the controller secures them
    args = patch(int_br, f"{name}-patch-tun", f"{name}-patch-int")
    args += patch(tun_br, f"{name}-patch-int", f"{name}-patch-tun")
    args += patch(int_br, f"{name}-int-eth1", f"{name}-phy-eth1")
    args += patch(phys_br, f"{name}-phy-eth1", f"{name}-int-eth1")
    args += patch(phys_br, f"{name}-eth1-up", f"sw-{name}")
    for remote_ip in remote_ips:
        port = tunnel_port_name("vxlan", remote_ip)
        args += ["--", "add-port", tun_br, port, "--", "set", "interface", port,
                 "type=vxlan", f"options:remote_ip={remote_ip}", "options:key=flow"]
    vsctl(*args)
    for bridge in (int_br, tun_br, phys_br):
        vsctl("set-controller", bridge, f"tcp:127.0.0.1:{of_port}")


@pytest.fixture(scope="module")
def fabric(ovs):
    ctl = Controller(chassis=CHASSIS).start()
    vsctl("--may-exist", "add-br", "t-physw", "--", "set", "bridge", "t-physw",
          "datapath_type=netdev")
    vsctl(*patch("t-physw", "sw-t0", "t0-eth1-up"), *patch("t-physw", "sw-t1", "t1-eth1-up"))
    build_chassis("t0", ["172.31.9.11"], ctl.of_port)
    build_chassis("t1", ["172.31.9.10"], ctl.of_port)
    yield ctl
    ctl.kill()
    for bridge in ("t0-int", "t0-tun", "t0-eth1", "t1-int", "t1-tun", "t1-eth1", "t-physw"):
        subprocess.run(["ovs-vsctl", "--if-exists", "del-br", bridge], check=False)
    shutil.rmtree(ctl.workdir, ignore_errors=True)


def topology(ctl):
    status, body = ctl.api.get("/v2.0/topology")
    assert status == 200
    return body["topology"]


def edges_of(topo, kind):
    return {frozenset((e["source"], e["target"])) for e in topo["edges"] if e["kind"] == kind}


def test_bridges_are_identified_by_chassis_and_role(fabric):
    topo = fabric.wait_for(lambda: (lambda t: t if sum(
        n["kind"] == "bridge" for n in t["nodes"]) == 6 else None)(topology(fabric)))
    roles = {n["id"]: (n["role"], n["physnet"]) for n in topo["nodes"] if n["kind"] == "bridge"}
    assert roles == {
        "t0/t0-int": ("int", None), "t0/t0-tun": ("tun", None),
        "t0/t0-eth1": ("phys", "physnet1"), "t1/t1-int": ("int", None),
        "t1/t1-tun": ("tun", None), "t1/t1-eth1": ("phys", "physnet1")}
    chassis = {n["id"]: n["tunnel_ip"] for n in topo["nodes"] if n["kind"] == "chassis"}
    assert chassis == {"t0": "172.31.9.10", "t1": "172.31.9.11", "t2": "172.31.9.12"}


def test_managed_bridges_are_set_to_fail_secure(fabric):
    bridges = ("t0-int", "t0-tun", "t0-eth1", "t1-int", "t1-tun", "t1-eth1")
    fabric.wait_for(lambda: all(vsctl("get", "bridge", b, "fail_mode").strip() == "secure"
                                for b in bridges))
    assert vsctl("get", "bridge", "t-physw", "fail_mode").strip() == "[]"  # not ours


def test_patch_tunnel_and_physical_links(fabric):
    topo = fabric.wait_for(lambda: (lambda t: t if len(edges_of(t, "tunnel")) == 2
                                    else None)(topology(fabric)))
    patches = edges_of(topo, "patch")
    for c in ("t0", "t1"):
        assert frozenset((f"{c}/{c}-int/{c}-patch-tun", f"{c}/{c}-tun/{c}-patch-int")) in patches
        assert frozenset((f"{c}/{c}-int/{c}-int-eth1", f"{c}/{c}-eth1/{c}-phy-eth1")) in patches
        assert frozenset((f"{c}/{c}-eth1/{c}-eth1-up", f"external:sw-{c}")) in edges_of(
            topo, "physical")
    assert edges_of(topo, "tunnel") == {
        frozenset(("t0/t0-tun/vxlan-ac1f090b", "t1")),
        frozenset(("t1/t1-tun/vxlan-ac1f090a", "t0"))}
    ports = {n["id"]: n for n in topo["nodes"] if n["kind"] == "port"}
    tunnel = ports["t0/t0-tun/vxlan-ac1f090b"]
    assert tunnel["remote_ip"] == "172.31.9.11" and tunnel["tunnel_type"] == "vxlan"
    assert tunnel["ofport"] > 0


def test_agents_alive_only_when_all_bridges_are_connected(fabric):
    agents = fabric.wait_for(lambda: (lambda a: a if a[0]["alive"] and a[1]["alive"]
                                      else None)(fabric.api.get("/v2.0/agents")[1]["agents"]))
    by_host = {agent["host"]: agent for agent in agents}
    assert by_host["t2"]["alive"] is False  # t2 has no bridges at all
    config = by_host["t0"]["configurations"]
    assert config["tunneling_ip"] == "172.31.9.10"
    assert config["bridge_mappings"] == {"physnet1": "t0-eth1"}
    assert set(config["tunnel_types"]) == {"vxlan", "gre"}
    status, one = fabric.api.get(f"/v2.0/agents/{by_host['t1']['id']}")
    assert status == 200 and one["agent"]["host"] == "t1"


def port_status(ctl, port_id):
    port = ctl.api.get(f"/v2.0/ports/{port_id}")[1]["port"]
    return port["status"], port["binding:host_id"]


def test_tap_device_binds_and_unbinds_its_port(fabric):
    api = fabric.api
    net = api.create("network")
    api.create("subnet", network_id=net["id"], cidr="10.90.0.0/24", ip_version=4)
    port = api.create("port", network_id=net["id"])
    tap = "tap" + port["id"][:11]
    vsctl("add-port", "t1-int", tap, "--", "set", "interface", tap, "type=internal")
    fabric.wait_for(lambda: port_status(fabric, port["id"]) == ("ACTIVE", "t1"))
    shown = api.get(f"/v2.0/ports/{port['id']}")[1]["port"]
    assert shown["binding:vif_type"] == "ovs"
    topo = topology(fabric)
    assert f"t1/t1-int/{tap}" in {n["id"] for n in topo["nodes"]}
    vsctl("del-port", "t1-int", tap)
    fabric.wait_for(lambda: port_status(fabric, port["id"]) == ("DOWN", "t1"))


def test_device_naming_no_known_port_is_logged_and_dead(fabric):
    api = fabric.api
    net = api.create("network")
    port = api.create("port", network_id=net["id"])
    api.delete(f"/v2.0/ports/{port['id']}")
    tap = "tap" + port["id"][:11]
    vsctl("add-port", "t0-int", tap, "--", "set", "interface", tap, "type=internal")
    try:
        fabric.wait_for(lambda: f"device {tap} on t0 names no known port" in fabric.log())
        # ... and it is put in the dead VLAN, so it can neither send nor receive
        fabric.wait_for(lambda: vsctl("get", "port", tap, "tag").strip() == "4095")
        assert api.get(f"/v2.0/ports/{port['id']}")[0] == 404
    finally:
        subprocess.run(["ovs-vsctl", "--if-exists", "del-port", "t0-int", tap], check=False)


def test_ports_unplugged_while_controller_was_down_go_down_on_reconnect(fabric):
    api = fabric.api
    net = api.create("network")
    port = api.create("port", network_id=net["id"])
    tap = "tap" + port["id"][:11]
    vsctl("add-port", "t0-int", tap, "--", "set", "interface", tap, "type=internal")
    fabric.wait_for(lambda: port_status(fabric, port["id"]) == ("ACTIVE", "t0"))
    fabric.kill()
    vsctl("del-port", "t0-int", tap)
    fabric.start()
    fabric.wait_for(lambda: port_status(fabric, port["id"]) == ("DOWN", "t0"), timeout=20)
