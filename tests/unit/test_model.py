"""The tenant model's promises around a write (pure: a model on a temporary store)."""
import pytest

from rest.attributes import RESOURCES, parse_body
from ryu_app.model.errors import BadRequest
from ryu_app.model.segments import SegmentPools
from ryu_app.model.store import Store, StoreLocked
from ryu_app.model.tenant import NetworkModel


def model(path) -> NetworkModel:
    segments = SegmentPools(tunnel_ranges={"vxlan": [(1001, 2000)]}, vlan_ranges={},
                            flat_networks=())
    return NetworkModel(Store(str(path)), segments)


def create(network_model: NetworkModel, kind: str, **values) -> dict:
    parsed = parse_body(kind, RESOURCES[kind], {kind: values}, True)
    return getattr(network_model, f"create_{kind}")(parsed)


def test_every_write_is_journaled_once_in_order_and_survives_a_restart(tmp_path):
    network_model = model(tmp_path / "db.sqlite")
    network = create(network_model, "network", name="kept")
    subnet = create(network_model, "subnet", network_id=network["id"], ip_version=4,
                    cidr="10.0.0.0/24")
    network_model.delete_subnet(subnet["id"])
    journal = [(kind, (old or new)["id"], old is None, new is None)
               for kind, old, new in network_model.take_changes()]
    dhcp_port = journal[2][1]   # the subnet's write made the network's DHCP port
    assert journal == [("network", network["id"], True, False),
                       ("subnet", subnet["id"], True, False),
                       ("port", dhcp_port, True, False),
                       ("port", dhcp_port, False, True),
                       ("subnet", subnet["id"], False, True)]
    assert network_model.take_changes() == []
    network_model.store.close()
    assert model(tmp_path / "db.sqlite").show("network", network["id"]) == network


def test_one_database_serves_one_controller(tmp_path):
    Store(str(tmp_path / "db.sqlite"))
    with pytest.raises(StoreLocked, match="in use by another controller"):
        Store(str(tmp_path / "db.sqlite"))


def test_a_database_from_before_dhcp_gets_its_dhcp_ports_at_start(tmp_path):
    path = tmp_path / "db.sqlite"
    network_model = model(path)
    network = create(network_model, "network", name="old")
    subnet = create(network_model, "subnet", network_id=network["id"], ip_version=4,
                    cidr="10.0.0.0/24")
    dhcp_port = network_model.dhcp_port_of(network["id"])
    network_model.store.commit(puts=[], deletes=[("port", dhcp_port["id"])])  # as it was
    network_model.store.close()
    reopened = model(path)
    assert reopened.dhcp_port_of(network["id"]) is None
    reopened.sync_dhcp_ports()
    made = reopened.dhcp_port_of(network["id"])
    assert made["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "10.0.0.2"}]
    reopened.store.close()
    assert model(path).dhcp_port_of(network["id"])["id"] == made["id"]   # stored


def test_a_database_from_before_gets_its_gateway_ports_out_of_the_projects_quota(tmp_path):
    """Gateway ports once took their router's project; at start they take none."""
    path = tmp_path / "db.sqlite"
    network_model = NetworkModel(Store(str(path)), SegmentPools(
        tunnel_ranges={"vxlan": [(1001, 2000)]}, vlan_ranges={}, flat_networks=("*",)))
    public = create(network_model, "network", **{
        "router:external": True, "provider:network_type": "flat",
        "provider:physical_network": "public"})
    create(network_model, "subnet", network_id=public["id"], ip_version=4,
           cidr="203.0.113.0/24", enable_dhcp=False)
    router = create(network_model, "router", project_id="p1",
                    external_gateway_info={"network_id": public["id"]})
    gateway = network_model.gateway_port_of(router["id"])
    assert gateway["project_id"] == ""
    old = {**gateway, "project_id": "p1", "tenant_id": "p1"}
    network_model.store.commit(puts=[("port", gateway["id"], old)])             # as it was
    network_model.store.close()
    reopened = NetworkModel(Store(str(path)), SegmentPools(
        tunnel_ranges={"vxlan": [(1001, 2000)]}, vlan_ranges={}, flat_networks=("*",)))
    assert reopened.quota_details("p1")["port"]["used"] == 1
    reopened.sync_l3_port_projects()
    assert reopened.quota_details("p1")["port"]["used"] == 0
    assert reopened.gateway_port_of(router["id"])["project_id"] == ""


def test_a_subnet_an_older_release_stored_over_the_limits_can_still_be_renamed(tmp_path):
    """The limits apply to what a write sets: seven DNS servers stored before they were
    checked do not make a rename a 400, while setting them again is refused."""
    network_model = model(tmp_path / "db.sqlite")
    network = create(network_model, "network")
    subnet = create(network_model, "subnet", network_id=network["id"], ip_version=4,
                    cidr="10.0.0.0/24")
    servers = [f"192.0.2.{n}" for n in range(1, 8)]
    network_model.records["subnet"][subnet["id"]]["dns_nameservers"] = servers   # as stored
    assert network_model.update_subnet(subnet["id"], {"name": "renamed"})["name"] == "renamed"
    with pytest.raises(BadRequest, match="DNS nameservers exceeds the limit 5"):
        network_model.update_subnet(subnet["id"], {"dns_nameservers": servers})
