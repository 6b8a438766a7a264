"""Settings and hypervisor registrations parsed from what operators write (pure)."""
import subprocess
import sys

import pytest

from ryu_app.model.segments import parse_vlan_ranges
from ryu_app.settings import Settings
from topology.chassis import ChassisSpec, parse_bridge_mappings, registration

RANGES = {"vni_ranges": ["1001:2000"], "tunnel_id_ranges": ["1:1000"],
          "network_vlan_ranges": ["physnet1:3001:4000"]}


def test_a_hypervisor_registers_with_its_name_tunnel_ip_and_mappings():
    spec = registration({"system-id": "compute1", "neutron-tunnel-ip": "172.16.0.11",
                         "neutron-bridge-mappings": "physnet1:br-eth1, physnet2:br-eth2",
                         "neutron-datapath-type": "netdev", "hostname": "ignored"})
    assert spec == ChassisSpec("compute1", "172.16.0.11",
                               {"physnet1": "br-eth1", "physnet2": "br-eth2"}, "netdev")
    assert spec.role_of("br-eth2") == ("phys", "physnet2")
    assert spec.role_of("br-tun") == ("tun", None) and spec.role_of("br-phy") is None
    assert ChassisSpec.from_record(spec.record()) == spec


@pytest.mark.parametrize("external_ids, complaint", [
    ({"neutron-tunnel-ip": "10.0.0.1"}, "system-id"),
    ({"system-id": "a b", "neutron-tunnel-ip": "10.0.0.1"}, "system-id"),
    ({"system-id": "h"}, "neutron-tunnel-ip"),
    ({"system-id": "h", "neutron-tunnel-ip": "10.0.0.300"}, "neutron-tunnel-ip"),
    ({"system-id": "h", "neutron-tunnel-ip": "10.0.0.1",
      "neutron-bridge-mappings": "physnet1"}, "PHYSNET:BRIDGE"),
    ({"system-id": "h", "neutron-tunnel-ip": "10.0.0.1",
      "neutron-datapath-type": "dpdk"}, "neutron-datapath-type"),
])
def test_an_incomplete_registration_says_what_is_wrong(external_ids, complaint):
    with pytest.raises(ValueError, match=complaint):
        registration(external_ids)


def test_bridge_mappings_may_not_reuse_a_bridge():
    with pytest.raises(ValueError, match="taken"):
        parse_bridge_mappings("physnet1:br-int")
    with pytest.raises(ValueError, match="taken"):
        parse_bridge_mappings("physnet1:br-x,physnet2:br-x")
    with pytest.raises(ValueError):
        parse_bridge_mappings("physnet1:a-bridge-name-too-long")


def test_settings_refuse_half_a_tls_setup_and_unknown_datapaths():
    assert Settings.parse(**RANGES).tls is None
    files = Settings.parse(**RANGES, tls_files=("k.pem", "c.pem", "ca.pem")).tls
    assert (files.private_key, files.ca_certificates) == ("k.pem", "ca.pem")
    with pytest.raises(ValueError, match="go together"):
        Settings.parse(**RANGES, tls_files=("k.pem", "c.pem", None))
    with pytest.raises(ValueError, match="datapath_type"):
        Settings.parse(**RANGES, datapath_type="dpdk")
    with pytest.raises(ValueError, match=r"type_drivers \['geneve'\] are not network types"):
        Settings.parse(**RANGES, type_drivers=["geneve", "vxlan"])
    with pytest.raises(ValueError):
        parse_vlan_ranges(["physnet1:4000:5000"])


@pytest.mark.parametrize("ranges, complaint", [
    ({"vni_ranges": ["0:10"]}, "vxlan range 0:10 is outside 1-16777215"),
    ({"vni_ranges": ["16777000:16777216"]}, "outside 1-16777215"),
    ({"tunnel_id_ranges": ["1:4294967296"]}, "gre range 1:4294967296 is outside")])
def test_tunnel_ranges_stay_inside_what_their_header_carries(ranges, complaint):
    """VNI 0, or one past 24 bits, would be handed to a tenant network VXLAN cannot tell
    apart from another."""
    with pytest.raises(ValueError, match=complaint):
        Settings.parse(**{**RANGES, **ranges})


LOAD = """
import sys
import ryu.base.app_manager  # registers Ryu's own options, as ryu-manager does
from ryu_app import config
from ryu_app.settings import Settings
config.CONF(["--config-file", sys.argv[1]], project="ryu")
loaded, defaults = config.load(), Settings()
print({name: getattr(loaded, name) for name in Settings.__dataclass_fields__
       if getattr(loaded, name) != getattr(defaults, name)})
"""


@pytest.mark.parametrize("written, differs", [
    ("", {}),
    ("[neutron]\nvni_ranges = 5000:5100\nglobal_physnet_mtu = 9000\n[quotas]\nquota_port = 7\n",
     {"vni_ranges": ((5000, 5100),), "global_physnet_mtu": 9000,
      "quotas": {**Settings().quotas, "port": 7}}),
    ("[neutron]\nallow_automatic_l3agent_failover = true\nagent_down_time = 20\n",
     {"allow_automatic_l3agent_failover": True, "agent_down_time": 20})])
def test_the_configuration_file_reads_into_settings_with_their_defaults(
        tmp_path, written, differs):
    """Ryu's --config-file: an option left out takes the Settings default (each is written
    once, there), and one written is read with its type."""
    path = tmp_path / "neutron.conf"
    path.write_text(written)
    out = subprocess.run([sys.executable, "-c", LOAD, str(path)], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == repr(differs)
