"""Neutron's port names, and what a port is read back from OVSDB (pure)."""
from topology.naming import classify, physical_patch_names, port_id_prefix, tunnel_port_name


def test_tunnel_port_names_are_the_remote_ip_in_hex():
    # ../shared/seeds/000_*.txt: node0's tunnel to node1 (172.10.0.11)
    assert tunnel_port_name("vxlan", "172.10.0.11") == "vxlan-ac0a000b"
    assert tunnel_port_name("gre", "172.31.0.11") == "gre-ac1f000b"


def test_physical_patch_names_fit_a_device_name():
    assert physical_patch_names("br-eth1") == ("int-br-eth1", "phy-br-eth1")
    long_int, long_phy = physical_patch_names("br-provider-a1")
    assert len(long_int) == len(long_phy) == 15 and long_int.startswith("int-br-pr")
    assert long_int[4:] == long_phy[4:]


def test_ovsdb_type_and_options_say_what_a_port_is():
    port = classify("n0-vx-1", 5, "vxlan", {"remote_ip": "172.31.0.12"})
    assert (port.kind, port.tunnel_type, port.remote_ip) == ("tunnel", "vxlan", "172.31.0.12")
    assert classify("patch-tun", 1, "patch", {"peer": "patch-int"}).peer == "patch-int"
    # An internal port that happens to be named like a tunnel is not one.
    assert classify("vxlan-0a000002", 3, "internal").kind == "other"


def test_a_vm_device_by_iface_id_or_by_the_tap_rule():
    by_id = classify("vnet3", 4, "", {}, {"iface-id": "3f1c", "attached-mac": "fa:16:3e:0:0:1"})
    assert (by_id.kind, by_id.iface_id) == ("vm", "3f1c")
    assert classify("tap1234567890a", 4).kind == "vm"
    assert classify("eth0", 5).kind == "other"
    assert port_id_prefix("qvo1234567890abc") == "1234567890a"
    assert port_id_prefix("tap") is None and port_id_prefix("vnet3") is None
