"""Ports: MAC and IP allocation, requested addresses, address pairs, filters."""
import re

import pytest

from tests.harness import UNKNOWN_ID


@pytest.fixture
def net(api):
    network = api.create("network")
    # DHCP off: these tests are about the ports' own addresses (the network's DHCP port,
    # which takes the first free one with DHCP on, is tested in test_networks.py)
    subnet = api.create("subnet", network_id=network["id"], cidr="192.168.10.0/24",
                        ip_version=4, enable_dhcp=False)
    return network, subnet


def test_generated_mac_and_first_free_address(api, net):
    network, subnet = net
    port = api.create("port", network_id=network["id"], name="vm1")
    assert re.fullmatch(r"fa:16:3e(:[0-9a-f]{2}){3}", port["mac_address"])
    assert port["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "192.168.10.2"}]
    assert port["status"] == "DOWN" and port["binding:vif_type"] == "unbound"
    assert port["port_security_enabled"] is True
    second = api.create("port", network_id=network["id"])
    assert second["fixed_ips"][0]["ip_address"] == "192.168.10.3"
    assert second["mac_address"] != port["mac_address"]


def test_a_named_address_is_kept_whatever_its_place_in_the_request(api, net):
    """[{subnet}, {ip_address: the next free}] would give the first entry that address and
    then refuse the second; Neutron takes the named addresses first."""
    network, subnet = net
    probe = api.create("port", network_id=network["id"])
    following = probe["fixed_ips"][0]["ip_address"].rsplit(".", 1)
    following = f"{following[0]}.{int(following[1]) + 1}"                  # the next free
    port = api.create("port", network_id=network["id"], fixed_ips=[
        {"subnet_id": subnet["id"]}, {"subnet_id": subnet["id"], "ip_address": following}])
    addresses = [ip["ip_address"] for ip in port["fixed_ips"]]
    assert addresses[1] == following and addresses[0] != following


def test_requested_address_checks(api, net):
    network, subnet = net
    port = api.create("port", network_id=network["id"],
                      fixed_ips=[{"ip_address": "192.168.10.50"}])
    assert port["fixed_ips"][0] == {"subnet_id": subnet["id"], "ip_address": "192.168.10.50"}
    cases = [
        ([{"ip_address": "192.168.10.50"}], 409, "IpAddressAlreadyAllocated"),
        ([{"subnet_id": subnet["id"], "ip_address": "192.168.10.255"}], 400,
         "InvalidIpForSubnet"),
        ([{"ip_address": "172.16.0.9"}], 400, "InvalidIpForNetwork"),
        ([{"ip_address": "300.1.1.1"}], 400, "InvalidInput"),
        ([{"subnet_id": UNKNOWN_ID}], 404, "SubnetNotFound"),
        ([{"subnet_id": "private-subnet"}], 400, "InvalidInput"),
        ([{"ip_address": "192.168.10.60"}, {"ip_address": "192.168.10.60"}], 400,
         "InvalidInput"),
    ]
    for fixed_ips, status, error_type in cases:
        got, body = api.post("/v2.0/ports", {"port": {"network_id": network["id"],
                                                      "fixed_ips": fixed_ips}})
        assert (got, body["NeutronError"]["type"]) == (status, error_type), fixed_ips
    listed = api.get(f"/v2.0/ports?network_id={network['id']}")[1]["ports"]
    assert [p["id"] for p in listed] == [port["id"]]


def test_mac_address_checks(api, net):
    network, _ = net
    api.create("port", network_id=network["id"], mac_address="fa:16:3e:00:00:01")
    for mac, status, error_type in [("fa:16:3e:00:00:01", 409, "MacAddressInUse"),
                                    ("FA163E000001", 409, "MacAddressInUse"),   # the same
                                    ("01:00:5e:00:00:01", 400, "InvalidInput"),
                                    ("zz:16:3e:00:00:01", 400, "InvalidInput")]:
        got, body = api.post("/v2.0/ports", {"port": {"network_id": network["id"],
                                                      "mac_address": mac}})
        assert (got, body["NeutronError"]["type"]) == (status, error_type), mac
    # netaddr's other forms, stored as Neutron stores them
    for mac in ("fa163e000002", "fa16.3e00.0003", "fa:16:3e:0:0:4", "fa-16-3e-00-00-05"):
        port = api.create("port", network_id=network["id"], mac_address=mac)
        assert re.fullmatch(r"fa:16:3e:00:00:0[2-5]", port["mac_address"]), port["mac_address"]
    for bad in ("fa163e000009\n", "fa:16-3e:00-00:09"):   # whitespace, mixed separators
        got, body = api.post("/v2.0/ports", {"port": {"network_id": network["id"],
                                                      "mac_address": bad}})
        assert (got, body["NeutronError"]["type"]) == (400, "InvalidInput"), bad
    listed = api.get("/v2.0/ports?mac_address=FA-16-3E-00-00-02")[1]["ports"]
    assert [port["mac_address"] for port in listed] == ["fa:16:3e:00:00:02"]


def test_exhausted_subnet_is_409_and_frees_on_delete(api):
    network = api.create("network")
    api.create("subnet", network_id=network["id"], cidr="10.20.0.0/29", ip_version=4)
    ports = [api.create("port", network_id=network["id"]) for _ in range(4)]  # .3 - .6
    assert ports[0]["fixed_ips"][0]["ip_address"] == "10.20.0.3"   # .2: the DHCP port
    status, body = api.post("/v2.0/ports", {"port": {"network_id": network["id"]}})
    assert status == 409 and body["NeutronError"]["type"] == "IpAddressGenerationFailure"
    api.delete(f"/v2.0/ports/{ports[2]['id']}")
    again = api.create("port", network_id=network["id"])
    assert again["fixed_ips"][0]["ip_address"] == ports[2]["fixed_ips"][0]["ip_address"]


def test_a_full_subnet_gives_way_to_the_networks_next_one(api):
    """Neutron tries a network's subnets in turn: adding one grows a full network."""
    network = api.create("network", **{"router:external": True, "provider:network_type": "flat",
                                       "provider:physical_network": "public"})
    api.create("subnet", network_id=network["id"], cidr="10.21.0.0/29", ip_version=4,
               enable_dhcp=False)
    [api.create("port", network_id=network["id"]) for _ in range(5)]   # .2 - .6
    status, body = api.post("/v2.0/ports", {"port": {"network_id": network["id"]}})
    assert status == 409 and body["NeutronError"]["type"] == "IpAddressGenerationFailure"
    assert network["id"] in body["NeutronError"]["message"]
    second = api.create("subnet", network_id=network["id"], cidr="10.21.1.0/29",
                        ip_version=4, enable_dhcp=False)
    port = api.create("port", network_id=network["id"])
    fip = api.create("floatingip", floating_network_id=network["id"])
    assert [port["fixed_ips"][0], fip["floating_ip_address"]] == [
        {"subnet_id": second["id"], "ip_address": "10.21.1.2"}, "10.21.1.3"]
    api.delete(f"/v2.0/floatingips/{fip['id']}")


def test_update_fixed_ips_releases_the_old_address(api, net):
    network, subnet = net
    port = api.create("port", network_id=network["id"],
                      fixed_ips=[{"ip_address": "192.168.10.70"}])
    status, body = api.put(f"/v2.0/ports/{port['id']}",
                           {"port": {"fixed_ips": [{"ip_address": "192.168.10.71"}]}})
    assert status == 200 and body["port"]["fixed_ips"][0]["ip_address"] == "192.168.10.71"
    other = api.create("port", network_id=network["id"],
                       fixed_ips=[{"ip_address": "192.168.10.70"}])
    assert other["fixed_ips"][0]["ip_address"] == "192.168.10.70"


def test_allowed_address_pairs_need_port_security(api, net):
    network, _ = net
    port = api.create("port", network_id=network["id"],
                      allowed_address_pairs=[{"ip_address": "192.168.10.200"}])
    assert port["allowed_address_pairs"] == [{"ip_address": "192.168.10.200",
                                              "mac_address": port["mac_address"]}]
    status, body = api.post("/v2.0/ports", {"port": {
        "network_id": network["id"], "port_security_enabled": False,
        "allowed_address_pairs": [{"ip_address": "10.0.0.9"}]}})
    assert status == 409
    assert body["NeutronError"]["type"] == "AddressPairAndPortSecurityRequired"


def test_address_pairs_take_what_neutron_takes(api, net):
    """A CIDR with host bits (kept as written), one address with and without /32, null
    for none: neutron-lib accepts all of these."""
    network, _ = net
    pairs = [{"ip_address": "10.3.0.5/24"}, {"ip_address": "10.0.0.5"},
             {"ip_address": "10.0.0.5/32"}]
    port = api.create("port", network_id=network["id"], allowed_address_pairs=pairs)
    assert [pair["ip_address"] for pair in port["allowed_address_pairs"]] == [
        "10.3.0.5/24", "10.0.0.5", "10.0.0.5/32"]
    status, body = api.put(f"/v2.0/ports/{port['id']}", {"port": {
        "allowed_address_pairs": None}})
    assert (status, body["port"]["allowed_address_pairs"]) == (200, [])


def test_a_port_holds_at_most_five_fixed_ips_and_ten_address_pairs(api, net):
    """Neutron's max_fixed_ips_per_port and max_allowed_address_pair, at their defaults:
    before, one request could give a port a subnet's every address (and every hypervisor
    of its network a flow for each)."""
    network, subnet = net
    six = [{"subnet_id": subnet["id"]}] * 6
    status, body = api.post("/v2.0/ports", {"port": {"network_id": network["id"],
                                                      "fixed_ips": six}})
    assert (status, body["NeutronError"]) == (400, {
        "type": "InvalidInput", "message": "Exceeded maximum amount of fixed ips per port.",
        "detail": ""})
    port = api.create("port", network_id=network["id"], fixed_ips=six[:5])
    assert len(port["fixed_ips"]) == 5
    status, body = api.put(f"/v2.0/ports/{port['id']}", {"port": {"fixed_ips": six}})
    assert (status, body["NeutronError"]["type"]) == (400, "InvalidInput")
    pairs = [{"ip_address": f"10.9.0.{host}"} for host in range(1, 12)]
    status, body = api.put(f"/v2.0/ports/{port['id']}", {"port": {
        "allowed_address_pairs": pairs}})
    assert (status, body["NeutronError"]["type"]) == (400, "AllowedAddressPairExhausted")
    assert body["NeutronError"]["message"] == (
        "The number of allowed address pair exceeds the maximum 10.")
    status, body = api.put(f"/v2.0/ports/{port['id']}", {"port": {
        "allowed_address_pairs": pairs[:10]}})
    assert status == 200 and len(body["port"]["allowed_address_pairs"]) == 10
    assert api.get(f"/v2.0/ports/{port['id']}")[1]["port"]["fixed_ips"] == port["fixed_ips"]
    # a network:* owner is not counted, but a port cannot keep its addresses past the
    # limit by giving that owner up
    service = api.create("port", network_id=network["id"], device_owner="network:custom",
                         fixed_ips=six)
    status, body = api.put(f"/v2.0/ports/{service['id']}", {"port": {
        "device_owner": "compute:nova"}})
    assert (status, body["NeutronError"]["type"]) == (400, "InvalidInput")


def test_naming_no_host_again_changes_nothing(api, net):
    """A PUT of binding:host_id "" to a port that has none (the DHCP port, as a client
    resending what it read) put it DOWN."""
    network, _ = net
    api.put(f"/v2.0/subnets/{net[1]['id']}", {"subnet": {"enable_dhcp": True}})
    [dhcp] = api.get(f"/v2.0/ports?network_id={network['id']}&device_owner=network:dhcp")[1][
        "ports"]
    status, body = api.put(f"/v2.0/ports/{dhcp['id']}", {"port": {"binding:host_id": ""}})
    assert (status, body["port"]["status"], body["port"]["revision_number"]) == (
        200, dhcp["status"], dhcp["revision_number"])


def test_filters_by_fixed_ip_and_device_owner(api, net):
    network, _ = net
    port = api.create("port", network_id=network["id"], device_owner="compute:nova",
                      device_id="vm-42", fixed_ips=[{"ip_address": "192.168.10.99"}])
    api.create("port", network_id=network["id"], device_owner="compute:nova")
    other = api.create("port", network_id=network["id"], device_owner="compute:nova",
                       fixed_ips=[{"ip_address": "192.168.10.98"}])
    status, body = api.get("/v2.0/ports?fixed_ips=ip_address%3D192.168.10.99")
    assert [p["id"] for p in body["ports"]] == [port["id"]]
    # as `openstack port list --fixed-ip ip-address=A --fixed-ip ip-address=B`: either;
    # another field applies as well
    both = "fixed_ips=ip_address%3D192.168.10.99&fixed_ips=ip_address%3D192.168.10.98"
    assert {p["id"] for p in api.get(f"/v2.0/ports?{both}")[1]["ports"]} == {
        port["id"], other["id"]}
    assert api.get(f"/v2.0/ports?{both}&fixed_ips=subnet_id%3Dnone")[1]["ports"] == []
    status, body = api.get(f"/v2.0/ports?network_id={network['id']}&device_id=vm-42"
                           "&device_owner=compute:nova")
    assert [p["id"] for p in body["ports"]] == [port["id"]]


def test_port_on_network_without_subnets_has_no_address(api):
    network = api.create("network")
    port = api.create("port", network_id=network["id"])
    assert port["fixed_ips"] == []


def test_extra_dhcp_opts_are_stored_merged_and_checked(api, net):
    network, _ = net
    port = api.create("port", network_id=network["id"], extra_dhcp_opts=[
        {"opt_name": "bootfile-name", "opt_value": "pxelinux.0"},
        {"opt_name": "150", "opt_value": "192.168.10.9"}])
    assert port["extra_dhcp_opts"] == [
        {"opt_name": "bootfile-name", "opt_value": "pxelinux.0", "ip_version": 4},
        {"opt_name": "150", "opt_value": "192.168.10.9", "ip_version": 4}]
    status, body = api.put(f"/v2.0/ports/{port['id']}", {"port": {"extra_dhcp_opts": [
        {"opt_name": "bootfile-name", "opt_value": None},          # removes it
        {"opt_name": "150", "opt_value": "192.168.10.10"}]}})     # replaces it
    assert status == 200 and body["port"]["extra_dhcp_opts"] == [
        {"opt_name": "150", "opt_value": "192.168.10.10", "ip_version": 4}]
    for bad in ({"opt_name": "no-such-option", "opt_value": "1"},
                {"opt_name": "mtu", "opt_value": "large"},
                {"opt_name": "53", "opt_value": "1"},                 # the protocol's own
                {"opt_name": "tftp-server", "opt_value": ""},         # blank: only router
                {"opt_name": "mtu"}, "mtu=1400",
                {"opt_name": "tag:pxe,67", "opt_value": "a"},        # a tag nothing sets
                {"opt_name": "tag:ipxe,router", "opt_value": ""}):    # tagged: a value
        status, body = api.put(f"/v2.0/ports/{port['id']}", {"port": {"extra_dhcp_opts": [bad]}})
        assert (status, body["NeutronError"]["type"]) == (400, "InvalidInput"), bad
    assert api.get(f"/v2.0/ports/{port['id']}")[1]["port"]["extra_dhcp_opts"] == [
        {"opt_name": "150", "opt_value": "192.168.10.10", "ip_version": 4}]
    # Ironic's iPXE pair, as Neutron's dnsmasq tags an iPXE client
    ironic = [{"opt_name": "tag:!ipxe,67", "opt_value": "undionly.kpxe"},
              {"opt_name": "tag:ipxe,67", "opt_value": "http://192.168.10.9/boot.ipxe"}]
    status, body = api.put(f"/v2.0/ports/{port['id']}", {"port": {"extra_dhcp_opts": ironic}})
    assert status == 200 and body["port"]["extra_dhcp_opts"][1:] == [
        {**option, "ip_version": 4} for option in ironic], body


def test_disabling_a_port_the_controller_made_leaves_it_serving(api):
    """Only a VM's port goes DOWN when disabled: a DHCP port, which no device binds again,
    would stay DOWN for good."""
    network = api.create("network")
    api.create("subnet", network_id=network["id"], cidr="192.168.30.0/24", ip_version=4)
    (dhcp,) = api.get(f"/v2.0/ports?network_id={network['id']}&device_owner=network:dhcp")[1][
        "ports"]
    for state in (False, True):
        status, body = api.put(f"/v2.0/ports/{dhcp['id']}", {"port": {"admin_state_up": state}})
        assert (status, body["port"]["status"]) == (200, "ACTIVE")
    vm = api.create("port", network_id=network["id"])
    assert api.put(f"/v2.0/ports/{vm['id']}", {"port": {"admin_state_up": False}})[1][
        "port"]["status"] == "DOWN"


def test_novas_unbind_with_nulls_clears_the_binding(api, net):
    """Nova unbinds a port it lets go with ``binding:host_id: null`` and ``binding:profile:
    null``; ML2 reads them as "" and {} (refusing them left the port on the old host)."""
    network, _ = net
    port = api.create("port", network_id=network["id"], **{
        "binding:host_id": "n1", "binding:profile": {"migrating_to": "n2"}})
    status, body = api.put(f"/v2.0/ports/{port['id']}", {"port": {
        "binding:host_id": None, "binding:profile": None, "device_id": "",
        "device_owner": ""}})
    assert status == 200, body
    assert (body["port"]["binding:host_id"], body["port"]["binding:profile"],
            body["port"]["binding:vif_type"]) == ("", {}, "unbound")
