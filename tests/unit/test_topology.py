"""The topology graph: built from what each chassis' OVSDB shows, answering the questions
the pipelines ask (pure, no switch)."""
from topology.chassis import ChassisSpec
from topology.graph import BridgeView, Topology
from topology.naming import classify, tunnel_port_name

N0, N1 = 0xA0, 0xB0  # datapath ids of the int bridges; +1 tun, +2 phys
IPS = {"n0": "172.31.0.10", "n1": "172.31.0.11"}


def views(base: int, remote_ip: str, *devices) -> list[BridgeView]:
    return [
        BridgeView("br-int", base, (classify("patch-tun", 1, "patch", {"peer": "patch-int"}),
                                    classify("int-br-eth1", 2, "patch", {"peer": "phy-br-eth1"}),
                                    *devices)),
        BridgeView("br-tun", base + 1, (
            classify("patch-int", 1, "patch", {"peer": "patch-tun"}),
            classify(tunnel_port_name("vxlan", remote_ip), 7, "vxlan", {"remote_ip": remote_ip}),
            classify(tunnel_port_name("gre", remote_ip), 8, "gre", {"remote_ip": remote_ip}))),
        BridgeView("br-eth1", base + 2, (
            classify("phy-br-eth1", 1, "patch", {"peer": "int-br-eth1"}),
            classify("eth2", 2))),
        BridgeView("br-phy", 0xFF, ()),   # the operator's underlay bridge: not ours
    ]


def build() -> Topology:
    topo = Topology([ChassisSpec(name, ip, {"physnet1": "br-eth1"}) for name, ip in IPS.items()])
    topo.sync_chassis("n0", views(N0, IPS["n1"]))
    topo.sync_chassis("n1", views(N1, IPS["n0"]))
    return topo


def test_bridges_by_role_and_physnet():
    topo = build()
    assert topo.bridge("n1", "phys", "physnet1").dpid == N1 + 2
    assert topo.bridge("n1", "phys", "physnet9") is None
    assert topo.bridge("n0", "tun").name == "br-tun"
    assert 0xFF not in topo.bridges


def test_a_chassis_is_alive_with_its_session_and_every_bridge_connected():
    topo = build()
    topo.connected |= {N0, N0 + 1, N0 + 2}
    assert not topo.alive("n0")            # no OVSDB session
    topo.sessions.add("n0")
    assert topo.alive("n0")
    topo.connected.discard(N0 + 2)         # br-eth1's OpenFlow connection is down
    assert not topo.alive("n0")


def test_tunnel_port_towards_a_chassis_by_type():
    topo = build()
    assert topo.tunnel_port("n0", "n1", "vxlan").ofport == 7
    assert topo.tunnel_port("n0", "n1", "gre").ofport == 8
    assert topo.tunnel_port("n0", "n0", "vxlan") is None
    without_vxlan = [v if v.name != "br-tun" else BridgeView(
        v.name, v.dpid, tuple(p for p in v.ports if p.tunnel_type != "vxlan"))
        for v in views(N0, IPS["n1"])]
    changes = topo.sync_chassis("n0", without_vxlan)
    assert [port.name for _, port in changes.ports_removed] == ["vxlan-ac1f000b"]
    assert not changes.ports_added and not changes.bridges_removed
    assert topo.tunnel_port("n0", "n1", "vxlan") is None


def test_patch_ports_between_bridges():
    topo = build()
    int_br, tun_br, phys_br = (topo.bridges[N0 + i] for i in range(3))
    assert topo.patch_port(int_br, tun_br).name == "patch-tun"
    assert topo.patch_port(tun_br, int_br).name == "patch-int"
    assert topo.patch_port(int_br, phys_br).ofport == 2
    assert topo.patch_port(tun_br, phys_br) is None


def test_vm_devices_stand_for_ports_by_iface_id_or_by_name():
    topo = build()
    port_a, port_b = "aaaaaaaa-1111-2222-3333-444444444444", "bbbbbbbb-3333-4444-5555-666666"
    by_id = classify("vnet0", 10, "", {}, {"iface-id": port_a})
    by_name = classify("qvo" + port_b[:11], 11)
    topo.sync_chassis("n0", views(N0, IPS["n1"], by_id))
    topo.sync_chassis("n1", views(N1, IPS["n0"], by_name))
    assert topo.devices_of(port_a) == {"n0": by_id}
    assert topo.devices_of(port_b) == {"n1": by_name}
    changes = topo.sync_chassis("n0", views(N0, IPS["n1"]))
    assert changes.ports_removed == [(topo.bridges[N0], by_id)]
    assert topo.devices_of(port_a) == {}


def test_a_new_datapath_id_is_a_new_bridge():
    topo = build()
    moved = [BridgeView(v.name, 0xC0 if v.name == "br-int" else v.dpid, v.ports)
             for v in views(N0, IPS["n1"])]
    changes = topo.sync_chassis("n0", moved)
    assert [b.dpid for b in changes.bridges_removed] == [N0]
    assert [b.dpid for b in changes.bridges_added] == [0xC0]
    assert topo.bridge("n0", "int").dpid == 0xC0
    assert topo.patch_port(topo.bridge("n0", "int"), topo.bridge("n0", "tun")).name == "patch-tun"


def test_tunnels_link_to_the_chassis_that_owns_the_address_even_if_it_registers_later():
    topo = Topology([ChassisSpec("n0", IPS["n0"])])
    topo.sync_chassis("n0", views(N0, IPS["n1"]))
    assert topo.tunnel_port("n0", "n1", "vxlan") is None
    topo.register(ChassisSpec("n1", IPS["n1"]))
    assert topo.tunnel_port("n0", "n1", "vxlan").ofport == 7
    edges = {(e["source"], e["target"]) for e in topo.to_json()["edges"] if e["kind"] == "tunnel"}
    assert ("n0/br-tun/vxlan-ac1f000b", "n1") in edges
