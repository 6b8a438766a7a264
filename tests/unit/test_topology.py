"""The topology graph's answers to the questions the pipelines ask (pure, no switch)."""
import pytest

from ryu_app.settings import parse_chassis
from topology.graph import Topology
from topology.naming import classify, tunnel_port_name

N0, N1 = 0xA0, 0xB0  # datapath ids of the int bridges; +1 tun, +2 phys


def build() -> Topology:
    topo = Topology([
        parse_chassis("n0 tunnel_ip=172.31.0.10 int_bridge=n0-int tun_bridge=n0-tun "
                      "bridge_mappings=physnet1:n0-eth1"),
        parse_chassis("n1 tunnel_ip=172.31.0.11 int_bridge=n1-int tun_bridge=n1-tun "
                      "bridge_mappings=physnet1:n1-eth1"),
    ])
    for name, base, remote in (("n0", N0, "172.31.0.11"), ("n1", N1, "172.31.0.10")):
        topo.add_bridge(base, f"{name}-int", [
            classify(f"{name}-patch-tun", 1, "patch", {"peer": f"{name}-patch-int"}),
            classify(f"{name}-int-eth1", 2, "patch", {"peer": f"{name}-phy-eth1"})])
        topo.add_bridge(base + 1, f"{name}-tun", [
            classify(f"{name}-patch-int", 1, "patch", {"peer": f"{name}-patch-tun"}),
            classify(tunnel_port_name("vxlan", remote), 7, "vxlan", {"remote_ip": remote}),
            classify(tunnel_port_name("gre", remote), 8, "gre", {"remote_ip": remote})])
        topo.add_bridge(base + 2, f"{name}-eth1", [
            classify(f"{name}-phy-eth1", 1, "patch", {"peer": f"{name}-int-eth1"})])
    return topo


def test_bridges_by_role_and_physnet():
    topo = build()
    assert topo.bridge("n1", "phys", "physnet1").dpid == N1 + 2
    assert topo.bridge("n1", "phys", "physnet9") is None
    assert topo.bridge("n0", "tun").name == "n0-tun"
    assert topo.alive("n0") and topo.alive("n1")
    topo.remove_bridge(N0 + 2)
    assert not topo.alive("n0")


def test_tunnel_port_towards_a_chassis_by_type():
    topo = build()
    assert topo.tunnel_port("n0", "n1", "vxlan").ofport == 7
    assert topo.tunnel_port("n0", "n1", "gre").ofport == 8
    assert topo.tunnel_port("n0", "n0", "vxlan") is None
    topo.remove_port(N0 + 1, tunnel_port_name("vxlan", "172.31.0.11"))
    assert topo.tunnel_port("n0", "n1", "vxlan") is None


def test_patch_ports_between_bridges():
    topo = build()
    int_br, tun_br, phys_br = (topo.bridges[N0 + i] for i in range(3))
    assert topo.patch_port(int_br, tun_br).name == "n0-patch-tun"
    assert topo.patch_port(tun_br, int_br).name == "n0-patch-int"
    assert topo.patch_port(int_br, phys_br).ofport == 2
    assert topo.patch_port(tun_br, phys_br) is None


def test_chassis_hosting_ports_follows_devices():
    topo = build()
    port_a, port_b = "aaaaaaaa-1111-2222", "bbbbbbbb-3333-4444"
    topo.add_port(N0, classify("tap" + port_a[:11], 10))
    topo.add_port(N1, classify("qvo" + port_b[:11], 11))
    assert topo.chassis_hosting([port_a, port_b]) == {"n0", "n1"}
    assert topo.chassis_hosting([port_a]) == {"n0"}
    topo.remove_port(N1, "qvo" + port_b[:11])
    assert topo.chassis_hosting([port_b]) == set()
    topo.remove_bridge(N0)
    assert topo.chassis_hosting([port_a]) == set()


@pytest.mark.parametrize("address, chassis", [("10.0.0.1", "a"), ("10.0.0.2", "b"),
                                              ("10.0.0.3", None)])
def test_same_bridge_names_on_several_chassis_are_told_apart_by_address(address, chassis):
    topo = Topology([parse_chassis("a tunnel_ip=10.0.0.1"), parse_chassis("b tunnel_ip=10.0.0.2")])
    bridge = topo.add_bridge(1, "br-int", [], address)
    assert (bridge.chassis if bridge else None) == chassis
