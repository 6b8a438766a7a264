"""Bad input: the right 4xx, a NeutronError body, no traceback, and nothing changed."""
import pytest


def _counts(api):
    return {kind: len(api.get(f"/v2.0/{kind}")[1][kind])
            for kind in ("networks", "subnets", "ports", "routers")}


@pytest.fixture
def network(api):
    network = api.create("network")
    api.create("subnet", network_id=network["id"], cidr="10.60.0.0/24", ip_version=4)
    return network


CASES = [
    ("POST", "/v2.0/networks", b"{not json", 400, "HTTPBadRequest"),
    ("POST", "/v2.0/networks", b"", 400, "HTTPBadRequest"),
    ("POST", "/v2.0/networks", b"[1, 2]", 400, "HTTPBadRequest"),
    ("POST", "/v2.0/networks", b'{"network": "x"}', 400, "HTTPBadRequest"),
    ("POST", "/v2.0/networks", b'{"networks": [{}]}', 400, "HTTPBadRequest"),
    ("POST", "/v2.0/networks", b'{"network": {"admin_state_up": "maybe"}}', 400,
     "InvalidInput"),
    ("POST", "/v2.0/networks", b'{"network": {"name": 42}}', 400, "InvalidInput"),
    ("POST", "/v2.0/networks", b'{"network": {"colour": "red"}}', 400, "HTTPBadRequest"),
    ("POST", "/v2.0/networks", b'{"network": {"status": "DOWN"}}', 400, "HTTPBadRequest"),
    ("POST", "/v2.0/networks", b'{"network": {"id": "mine"}}', 400, "HTTPBadRequest"),
    ("POST", "/v2.0/networks", b'{"network": {"provider:segmentation_id": "ten",'
     b' "provider:network_type": "vxlan"}}', 400, "InvalidInput"),
    # a segment without its type, or a flat network on a physical network named ""
    ("POST", "/v2.0/networks", b'{"network": {"provider:segmentation_id": 5}}', 400,
     "InvalidInput"),
    ("POST", "/v2.0/networks", b'{"network": {"provider:physical_network": ""}}', 400,
     "InvalidInput"),
    ("POST", "/v2.0/networks", b'{"network": {"provider:network_type": "flat", '
     b'"provider:physical_network": ""}}', 400, "InvalidInput"),
    ("POST", "/v2.0/subnets", b'{"subnet": {"ip_version": 4, "cidr": "10.0.0.0/24"}}',
     400, "HTTPBadRequest"),
    ("POST", "/v2.0/ports", b'{"port": {"network_id": "9d3c6a8e-0000-4000-8000-00000000dead"}}',
     404, "NetworkNotFound"),
    ("POST", "/v2.0/ports", b'{"port": {"network_id": "private"}}', 400, "InvalidInput"),
    ("POST", "/v2.0/ports", b'{"port": {"network_id": "NET", "fixed_ips": "10.0.0.1"}}',
     400, "InvalidInput"),
    ("POST", "/v2.0/ports", b'{"port": {"network_id": "NET", "mac_address": 12}}', 400,
     "InvalidInput"),
    ("POST", "/v2.0/ports", b'{"port": {"network_id": "NET", "allowed_address_pairs":'
     b' [{"ip_address": "x"}]}}', 400, "InvalidInput"),
    ("PUT", "/v2.0/networks/NET", b'{"network": {"shared": []}}', 400, "InvalidInput"),
    ("PUT", "/v2.0/networks/nope", b'{"network": {"name": "x"}}', 404, "NetworkNotFound"),
    ("GET", "/v2.0/networks/nope", None, 404, "NetworkNotFound"),
    ("GET", "/v2.0/subnets/nope", None, 404, "SubnetNotFound"),
    ("GET", "/v2.0/routers/nope", None, 404, "RouterNotFound"),
    ("DELETE", "/v2.0/ports/nope", None, 404, "PortNotFound"),
    ("PATCH", "/v2.0/networks", None, 405, "HTTPMethodNotAllowed"),
    ("DELETE", "/v2.0/networks", None, 405, "HTTPMethodNotAllowed"),
    ("GET", "/v2.0/unicorns", None, 404, "HTTPNotFound"),
    ("GET", "/v3/networks", None, 404, "HTTPNotFound"),
    ("GET", "/v2.0/networks?limit=-1", None, 400, "HTTPBadRequest"),
    ("GET", "/v2.0/networks?admin_state_up=perhaps", None, 400, "HTTPBadRequest"),
    ("GET", "/v2.0/networks?sort_key=colour&sort_dir=asc", None, 400, "HTTPBadRequest"),
    # a sort_dir for each sort_key, as Neutron has them
    ("GET", "/v2.0/networks?sort_key=name", None, 400, "HTTPBadRequest"),
    ("GET", "/v2.0/networks?sort_dir=sideways", None, 400, "HTTPBadRequest"),
    ("GET", "/v2.0/networks?sort_key=name&sort_dir=asc&sort_dir=desc", None, 400,
     "HTTPBadRequest"),
    ("GET", "/v2.0/networks?sort_key=name&sort_dir=sideways", None, 400, "HTTPBadRequest"),
    # allowed address pairs as neutron-lib validates them
    *[("POST", "/v2.0/ports", b'{"port": {"network_id": "NET", "allowed_address_pairs": '
       + pairs + b"}}", 400, error) for pairs, error in (
        (b"[" + b", ".join(b'{"ip_address": "10.60.1.%d"}' % n for n in range(11)) + b"]",
         "AllowedAddressPairExhausted"),
        (b'[{"ip_address": "10.60.1.1"}, {"ip_address": "10.60.1.1"}]',
         "DuplicateAddressPairInRequest"),
        (b'[{"mac_address": "fa:16:3e:00:00:01"}]', "AllowedAddressPairsMissingIP"),
        (b'[{"ip_address": "224.0.0.5"}]', "InvalidInput"),
        (b'[{"ip_address": "224.0.0.0/24"}]', "InvalidInput"))],
    # Neutron's limits and the ranges DHCP cannot serve
    *[("POST", "/v2.0/subnets", b'{"subnet": {"network_id": "NET", "ip_version": 4, '
       b'"cidr": "' + cidr + b'"' + extra + b'}}', 400, error) for cidr, extra, error in (
        (b"10.62.0.0/24", b', "dns_nameservers": ["192.0.2.1", "192.0.2.2", "192.0.2.3", '
         b'"192.0.2.4", "192.0.2.5", "192.0.2.6"]', "DNSNameServersExhausted"),
        (b"10.62.0.0/24", b', "host_routes": [' + b", ".join(
            b'{"destination": "172.16.%d.0/24", "nexthop": "10.62.0.9"}' % n
            for n in range(21)) + b"]", "HostRoutesExhausted"),
        (b"10.62.0.0/24", b', "host_routes": [' + b", ".join(
            [b'{"destination": "172.16.0.0/24", "nexthop": "10.62.0.9"}'] * 2) + b"]",
         "InvalidInput"),
        (b"224.0.0.0/24", b"", "InvalidInput"), (b"127.0.0.0/24", b"", "InvalidInput"),
        (b"0.0.0.0/8", b"", "InvalidInput"))],
    # IPv6 is not served: its modes take null only (a stored [] once broke sorting)
    *[("POST", "/v2.0/subnets", b'{"subnet": {"network_id": "NET", "ip_version": 4, '
       b'"cidr": "10.61.0.0/24", "ipv6_ra_mode": ' + mode + b'}}', 400, error)
      for mode, error in ((b"[]", "InvalidInput"), (b"false", "InvalidInput"),
                          (b"0", "InvalidInput"), (b'"slaac"', "HTTPBadRequest"))],
]


@pytest.mark.parametrize("method, path, raw, status, error_type", CASES)
def test_bad_requests(api, network, method, path, raw, status, error_type):
    before = _counts(api)
    path = path.replace("NET", network["id"])
    got, body = api.request(method, path, raw=(raw.replace(b"NET", network["id"].encode())
                                               if raw else raw))
    assert got == status, body
    assert set(body) == {"NeutronError"}
    assert body["NeutronError"]["type"] == error_type
    assert body["NeutronError"]["message"] and "Traceback" not in body["NeutronError"]["message"]
    assert _counts(api) == before


def test_the_callers_project_header_is_checked_as_a_body_project_id_is(api):
    """Before, a 6000-character X-Project-Id made a network of that project (a body's
    project_id is refused over 255), and a UTF-8 name was stored as latin-1 mojibake."""
    too_long = api.request("POST", "/v2.0/networks", {"network": {}},
                           headers={"X-Project-Id": "p" * 256})
    assert too_long[0] == 400 and too_long[1]["NeutronError"]["type"] == "InvalidInput"
    status, body = api.request("POST", "/v2.0/networks", {"network": {}},
                               headers={"X-Project-Id": b"\xff\xfe"})
    assert status == 400 and "not valid UTF-8" in body["NeutronError"]["message"]
    status, body = api.request("POST", "/v2.0/networks", {"network": {}},
                               headers={"X-Project-Id": "équipe".encode()})
    assert (status, body["network"]["project_id"]) == (201, "équipe")
    assert api.delete(f"/v2.0/networks/{body['network']['id']}")[0] == 204
