"""Parsing of the chassis list and segment ranges (pure, no controller)."""
import pytest

from ryu_app.model.segments import parse_vlan_ranges
from ryu_app.settings import Settings, parse_chassis


def test_chassis_entry_with_bridges_and_mappings():
    spec = parse_chassis("n0 tunnel_ip=172.31.0.10 int_bridge=n0-int tun_bridge=n0-tun "
                         "bridge_mappings=physnet1:n0-eth1,physnet2:n0-eth2")
    assert (spec.name, spec.tunnel_ip, spec.int_bridge, spec.tun_bridge) == (
        "n0", "172.31.0.10", "n0-int", "n0-tun")
    assert spec.bridge_mappings == {"physnet1": "n0-eth1", "physnet2": "n0-eth2"}
    assert spec.role_of("n0-eth2") == ("phys", "physnet2")
    assert spec.role_of("n0-tun") == ("tun", None)
    assert spec.role_of("n1-int") is None


def test_chassis_defaults_are_neutrons_bridge_names():
    spec = parse_chassis("compute1 tunnel_ip=10.0.0.5")
    assert (spec.int_bridge, spec.tun_bridge, spec.bridge_mappings) == ("br-int", "br-tun", {})


@pytest.mark.parametrize("entry", [
    "", "tunnel_ip=1.2.3.4", "n0", "n0 tunnel_ip=nope", "n0 tunnel_ip=1.2.3.4 colour=red",
    "n0 tunnel_ip=1.2.3.4 bridge_mappings=physnet1",
])
def test_bad_chassis_entries_raise(entry):
    with pytest.raises(ValueError):
        parse_chassis(entry)


def test_settings_merge_mapped_physnets_and_refuse_duplicates():
    settings = Settings.parse(vni_ranges=["1001:2000"], tunnel_id_ranges=["1:1000"],
                              network_vlan_ranges=["physnet1:3001:4000"],
                              chassis=["a tunnel_ip=10.0.0.1 bridge_mappings=physnet2:br-x"])
    assert settings.network_vlan_ranges == {"physnet1": [(3001, 4000)], "physnet2": []}
    with pytest.raises(ValueError):
        Settings.parse(vni_ranges=[], tunnel_id_ranges=[], network_vlan_ranges=[],
                       chassis=["a tunnel_ip=10.0.0.1", "a tunnel_ip=10.0.0.2"])
    with pytest.raises(ValueError):
        parse_vlan_ranges(["physnet1:4000:5000"])
