"""Neutron's port names read back into kinds (pure)."""
from topology.naming import classify, parse_tunnel_port_name, tunnel_port_name


def test_tunnel_port_names_round_trip():
    assert tunnel_port_name("vxlan", "10.0.0.2") == "vxlan-0a000002"
    assert tunnel_port_name("gre", "172.31.0.11") == "gre-ac1f000b"
    assert parse_tunnel_port_name("gre-ac1f000b") == ("gre", "172.31.0.11")
    assert parse_tunnel_port_name("vxlan-qtfsbtdew") is None


def test_ovsdb_facts_win_over_names():
    port = classify("n0-vx-1", 5, "vxlan", {"remote_ip": "172.31.0.12"})
    assert (port.kind, port.tunnel_type, port.remote_ip) == ("tunnel", "vxlan", "172.31.0.12")
    assert classify("n0-patch-tun", 1, "patch", {"peer": "n0-patch-int"}).peer == "n0-patch-int"
    # An internal port that happens to be named like a tunnel is not one.
    assert classify("vxlan-0a000002", 3, "internal").kind == "other"


def test_names_alone_when_ovsdb_says_nothing():
    assert classify("patch-tun", 1).kind == "patch"
    assert classify("int-br-eth1", 2).kind == "patch"
    assert classify("vxlan-0a000002", 3).remote_ip == "10.0.0.2"
    assert classify("tap1234567890a", 4).kind == "vm"
    assert classify("eth0", 5).kind == "other"
