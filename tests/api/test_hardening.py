"""Client mistakes and hostile clients against the real ryu-manager: every one gets a 4xx
NeutronError (never a 5xx, never a traceback) and changes nothing."""
import http.client
import json
import shutil
import socket
import time

import pytest

from tests.harness import Controller


def raw(controller, request: bytes, timeout: float = 5) -> tuple[int, dict | str]:
    """Send bytes as they are (no client-side quoting) and read one response."""
    with socket.create_connection(("127.0.0.1", controller.api_port), timeout=timeout) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read().decode("utf-8", "replace")
    try:
        return response.status, json.loads(body)
    except ValueError:
        return response.status, body


def error_type(body) -> str:
    assert isinstance(body, dict) and set(body) == {"NeutronError"}, body
    return body["NeutronError"]["type"]


def get(controller, target: str) -> tuple[int, dict | str]:
    return raw(controller, f"GET {target} HTTP/1.1\r\nHost: x\r\n"
                           "Connection: close\r\n\r\n".encode("latin-1"))


def post(controller, target: str, body: bytes, headers: str = "") -> tuple[int, dict | str]:
    head = (f"POST {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\n{headers}")
    if "Transfer-Encoding" not in headers:
        head += f"Content-Length: {len(body)}\r\n"
    return raw(controller, head.encode() + b"\r\n" + body)


@pytest.mark.parametrize("target", ["/v2.0/networks?name=%ff", "/v2.0/%ff",
                                    "/v2.0/networks/%c3%28", "/v2.0/ports?fields=%80"])
def test_invalid_utf8_in_the_path_or_query_is_a_400(controller, target):
    status, body = get(controller, target)
    assert status == 400 and error_type(body) == "HTTPBadRequest", (status, body)
    assert "UTF-8" in body["NeutronError"]["message"]


@pytest.mark.parametrize("payload", [b"[" * 1000, b'{"network": ' * 5000 + b"{}" + b"}" * 5000])
def test_deeply_nested_json_is_a_400(controller, payload):
    status, body = post(controller, "/v2.0/networks", payload)
    assert status == 400 and error_type(body) == "HTTPBadRequest", (status, body)


@pytest.mark.parametrize("value", [b"1e400", b"Infinity", b"-Infinity", b"NaN"])
def test_non_finite_numbers_are_a_400(controller, api, value):
    before = api.get("/v2.0/networks")[1]["networks"]
    status, body = post(controller, "/v2.0/networks", b'{"network": {"mtu": ' + value + b"}}")
    assert status == 400 and error_type(body) == "HTTPBadRequest", (status, body)
    network = api.create("network")
    status, body = post(controller, "/v2.0/ports", b'{"port": {"network_id": "'
                        + network["id"].encode() + b'", "name": ' + value + b"}}")
    assert status == 400, (status, body)
    assert len(api.get("/v2.0/networks")[1]["networks"]) == len(before) + 1


@pytest.mark.parametrize("body", [
    '{"network": {"name": "x"}}'.encode("utf-16"),            # not UTF-8
    b'\xef\xbb\xbf{"network": {"name": "x"}}',                # a byte order mark
    b'{"network": {"name": "\\ud800"}}',                      # a lone surrogate
    b'{"network": {"name": "x", "\\udfff": 1}}',              # ... in a key
    b'{"network": {"name": "\\ud83d"}}'])                     # half of a pair
def test_a_body_that_is_not_utf8_or_holds_a_lone_surrogate_is_a_400(controller, api, body):
    """Lone surrogates could not be written back as UTF-8: stored, one in a port's host
    once broke every later port write and the controller's start."""
    before = api.get("/v2.0/networks")[1]["networks"]
    status, answer = post(controller, "/v2.0/networks", body)
    assert status == 400 and error_type(answer) == "HTTPBadRequest", (status, answer)
    assert api.get("/v2.0/networks")[1]["networks"] == before
    port = api.create("port", network_id=api.create("network")["id"])
    status, answer = api.request("PUT", f"/v2.0/ports/{port['id']}",
                                 raw=b'{"port": {"binding:host_id": "\\ud800"}}')
    assert status == 400 and error_type(answer) == "HTTPBadRequest", (status, answer)
    assert api.get(f"/v2.0/ports/{port['id']}")[1]["port"]["binding:host_id"] == ""
    emoji = api.create("network", name="\U0001f600")   # a surrogate pair is one character
    assert emoji["name"] == "\U0001f600"


@pytest.mark.parametrize("protocol", ["9" * 5000, "0" * 5000 + "6"])
def test_a_protocol_number_of_thousands_of_digits_is_a_400(api, protocol):
    group = api.create("security_group", name="digits")
    status, body = api.post("/v2.0/security-group-rules", {"security_group_rule": {
        "security_group_id": group["id"], "direction": "ingress", "protocol": protocol}})
    assert status == 400 and error_type(body) == "SecurityGroupRuleInvalidProtocol", body
    status, body = api.get(f"/v2.0/security-group-rules?protocol={protocol}")
    assert status == 400 and error_type(body) == "HTTPBadRequest", body


def test_a_body_over_the_limit_is_a_413(controller):
    status, body = post(controller, "/v2.0/networks",
                        b'{"network": {"name": "' + b"x" * (2 << 20) + b'"}}')
    assert status == 413 and error_type(body) == "HTTPRequestEntityTooLarge", (status, body)
    chunk = b"x" * (2 << 20)
    status, body = post(controller, "/v2.0/networks", f"{len(chunk):x}\r\n".encode() + chunk
                        + b"\r\n0\r\n\r\n", "Transfer-Encoding: chunked\r\n")
    assert status == 413 and error_type(body) == "HTTPRequestEntityTooLarge", (status, body)


def test_a_chunked_body_is_read(controller, api):
    document = json.dumps({"network": {"name": "chunked"}}).encode()
    chunked = b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n"
                       for part in (document[:10], document[10:])) + b"0\r\n\r\n"
    status, body = post(controller, "/v2.0/networks", chunked, "Transfer-Encoding: chunked\r\n")
    assert status == 201 and body["network"]["name"] == "chunked", (status, body)


def test_the_plain_text_traceback_is_gone(controller):
    status, body = get(controller, "/v2.0/%ff%fe")
    assert "Traceback" not in json.dumps(body) and status < 500


def test_a_port_write_cannot_make_or_move_a_router_interface(api):
    network = api.create("network")
    subnet = api.create("subnet", network_id=network["id"], cidr="10.60.0.0/24", ip_version=4)
    first, second = api.create("router", name="a"), api.create("router", name="b")
    status, _ = api.put(f"/v2.0/routers/{first['id']}/add_router_interface",
                        {"subnet_id": subnet["id"]})
    assert status == 200
    status, body = api.post("/v2.0/ports", {"port": {
        "network_id": network["id"], "device_owner": "network:router_interface_distributed",
        "device_id": second["id"], "fixed_ips": [{"subnet_id": subnet["id"]}]}})
    assert status == 400 and error_type(body) == "HTTPBadRequest", body
    (interface,) = api.get(f"/v2.0/ports?device_id={first['id']}")[1]["ports"]
    for change in ({"device_id": second["id"]}, {"device_owner": "compute:nova"},
                   {"fixed_ips": []}, {"fixed_ips": [{"subnet_id": subnet["id"],
                                                       "ip_address": "10.60.0.9"}]}):
        status, body = api.put(f"/v2.0/ports/{interface['id']}", {"port": change})
        assert status == 409 and error_type(body) == "L3PortInUse", body
    assert api.get(f"/v2.0/ports/{interface['id']}")[1]["port"]["fixed_ips"] == \
        interface["fixed_ips"]
    assert api.delete(f"/v2.0/routers/{second['id']}")[0] == 204    # it never got the subnet
    status, body = api.delete(f"/v2.0/routers/{first['id']}")
    assert status == 409 and error_type(body) == "RouterInUse"


def test_numbers_sort_as_numbers_and_revisions_filter(api):
    made = [api.create("network", name="sorted", mtu=mtu) for mtu in (900, 1000, 1400)]
    listed = api.get("/v2.0/networks?name=sorted&sort_key=mtu&sort_dir=asc")[1]["networks"]
    assert [n["mtu"] for n in listed] == [900, 1000, 1400]
    api.put(f"/v2.0/networks/{made[0]['id']}", {"network": {"description": "again"}})
    found = api.get("/v2.0/networks?name=sorted&revision_number=2")[1]["networks"]
    assert [n["id"] for n in found] == [made[0]["id"]]


def test_page_reverse_pages_backwards_from_the_marker(api):
    made = [api.create("network", name="paged")["id"] for _ in range(4)]
    status, body = api.get(f"/v2.0/networks?name=paged&limit=2&marker={made[3]}"
                           "&page_reverse=True")
    assert status == 200 and [n["id"] for n in body["networks"]] == made[1:3], body
    forward = api.get(f"/v2.0/networks?name=paged&limit=2&marker={made[0]}")[1]["networks"]
    assert [n["id"] for n in forward] == made[1:3]
    # without a limit, Neutron pages nothing: a marker, known or not, is ignored
    for marker in (made[2], "no-such-network"):
        status, body = api.get(f"/v2.0/networks?name=paged&marker={marker}")
        assert status == 200 and [n["id"] for n in body["networks"]] == made, body


def test_a_marker_is_any_record_and_an_unknown_one_is_not_found(api):
    made = [api.create("network", name="marked")["id"] for _ in range(2)]
    outside = api.create("network", name="elsewhere")["id"]
    later = api.create("network", name="marked")["id"]
    # filtered out, the marker still says where the page starts, as in Neutron
    status, body = api.get(f"/v2.0/networks?name=marked&limit=5&marker={outside}")
    assert status == 200 and [n["id"] for n in body["networks"]] == [later], body
    status, body = api.get(f"/v2.0/networks?name=marked&limit=5&marker={outside}"
                           "&page_reverse=True")
    assert status == 200 and [n["id"] for n in body["networks"]] == made, body
    status, body = api.get("/v2.0/networks?limit=2&marker=no-such-network")
    assert status == 404 and body["NeutronError"]["type"] == "NetworkNotFound", body
    status, body = api.get("/v2.0/agents?limit=2&marker=no-such-agent")
    assert status == 404 and body["NeutronError"]["type"] == "AgentNotFound", body


def test_pages_link_to_the_next_and_the_previous_page_as_neutron_does(api):
    made = [api.create("network", name="linked")["id"] for _ in range(5)]

    def page(path: str) -> tuple[list[str], dict[str, str]]:
        status, body = api.get(path)
        assert status == 200, body
        links = {link["rel"]: link["href"][link["href"].index("/v2.0"):]
                 for link in body.get("networks_links", [])}
        return [n["id"] for n in body["networks"]], links

    first, links = page("/v2.0/networks?name=linked&limit=2")
    assert first == made[:2] and set(links) == {"next"}
    middle, links = page(links["next"])
    assert middle == made[2:4] and set(links) == {"next", "previous"}
    assert page(links["previous"])[0] == made[:2]
    last, links = page(links["next"])
    assert last == made[4:] and set(links) == {"previous"}
    backwards, links = page(f"/v2.0/networks?name=linked&limit=2&marker={made[2]}"
                            "&page_reverse=True")
    assert backwards == made[:2] and set(links) == {"next"}
    assert page(links["next"])[0] == made[2:4]
    assert "networks_links" not in api.get("/v2.0/networks?name=linked")[1]


def test_renaming_a_subnet_keeps_its_place_and_ports_draw_from_the_first(api):
    network = api.create("network")
    first = api.create("subnet", network_id=network["id"], cidr="10.61.0.0/24", ip_version=4)
    second = api.create("subnet", network_id=network["id"], cidr="10.62.0.0/24", ip_version=4)
    api.put(f"/v2.0/subnets/{first['id']}", {"subnet": {"name": "renamed"}})
    shown = api.get(f"/v2.0/networks/{network['id']}")[1]["network"]
    assert shown["subnets"] == [first["id"], second["id"]]
    port = api.create("port", network_id=network["id"])
    assert port["fixed_ips"][0]["subnet_id"] == first["id"]


def test_a_port_keeps_its_address_when_its_subnet_is_named_again(api):
    network = api.create("network")
    subnet = api.create("subnet", network_id=network["id"], cidr="10.63.0.0/24", ip_version=4)
    port = api.create("port", network_id=network["id"])
    status, body = api.put(f"/v2.0/ports/{port['id']}",
                           {"port": {"fixed_ips": [{"subnet_id": subnet["id"]}]}})
    assert status == 200 and body["port"]["fixed_ips"] == port["fixed_ips"], body


def test_fractions_are_not_integers_and_ipv6_filters_find_nothing(api):
    status, body = api.post("/v2.0/networks", {"network": {"mtu": 1400.9}})
    assert status == 400 and error_type(body) == "InvalidInput", body
    assert api.post("/v2.0/networks", {"network": {"mtu": 1400.0}})[0] == 201
    assert api.get("/v2.0/subnets?ip_version=6") == (200, {"subnets": []})
    status, body = api.get("/v2.0/subnets?ip_version=five")
    assert status == 400 and error_type(body) == "HTTPBadRequest"


def test_a_body_over_the_limit_still_being_sent_gets_its_413(controller):
    """The server answers after 1 MiB; the rest is read and dropped, so the client that
    is still sending is not reset before it reads the answer."""
    body = b'{"network": {"name": "' + b"x" * (3 << 20) + b'"}}'
    with socket.create_connection(("127.0.0.1", controller.api_port), timeout=10) as sock:
        sock.sendall(f"POST /v2.0/networks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                     "\r\n".encode())
        for offset in range(0, len(body), 1 << 16):
            sock.sendall(body[offset:offset + (1 << 16)])
            time.sleep(0.001)
        response = http.client.HTTPResponse(sock)
        response.begin()
        answer = json.loads(response.read())
    assert response.status == 413 and error_type(answer) == "HTTPRequestEntityTooLarge"


def test_a_port_write_cannot_take_a_gateway_or_floating_ip_port_from_its_owner(api):
    """Made compute:nova, a floating IP's port could be deleted and its address handed out
    again while the floating IP still showed it."""
    public = api.create("network", **{"router:external": True, "provider:network_type": "flat",
                                      "provider:physical_network": "public"})
    api.create("subnet", network_id=public["id"], cidr="203.0.113.0/24", ip_version=4,
               enable_dhcp=False)
    router = api.create("router", external_gateway_info={"network_id": public["id"]})
    fip = api.create("floatingip", floating_network_id=public["id"])
    for owner in ("network:router_gateway", "network:floatingip"):
        (port,) = api.get(f"/v2.0/ports?device_owner={owner}")[1]["ports"]
        for change in ({"device_owner": "compute:nova"}, {"device_id": "elsewhere"},
                       {"fixed_ips": []}):
            status, body = api.put(f"/v2.0/ports/{port['id']}", {"port": change})
            assert status == 409 and error_type(body) == "L3PortInUse", (owner, body)
        assert api.put(f"/v2.0/ports/{port['id']}", {"port": {"name": "renamed"}})[0] == 200
    api.delete(f"/v2.0/floatingips/{fip['id']}")
    api.put(f"/v2.0/routers/{router['id']}", {"router": {"external_gateway_info": None}})
    api.delete(f"/v2.0/routers/{router['id']}")
    assert api.delete(f"/v2.0/networks/{public['id']}")[0] == 204


@pytest.fixture(scope="module")
def impatient():
    """A controller that closes a REST connection silent for 1 s."""
    ctl = Controller(extra={"neutron": {"api_client_timeout": 1}}).start()
    yield ctl
    ctl.kill()
    shutil.rmtree(ctl.workdir, ignore_errors=True)


NETWORK = b'{"network": {"name": "broken"}}'


@pytest.mark.parametrize("headers, body, status, kind", [
    # a chunk size that is no number, and a chunk cut short
    ("Transfer-Encoding: chunked\r\n", b"zz\r\n" + NETWORK + b"\r\n0\r\n\r\n", 400,
     "HTTPBadRequest"),
    ("Transfer-Encoding: chunked\r\n", b"ff\r\n" + NETWORK, 400, "HTTPBadRequest"),
    # fewer bytes than the Content-Length says, below and over the size limit
    ("Content-Length: 100\r\n", NETWORK, 400, "HTTPBadRequest"),
    ("Content-Length: 2000000\r\n", NETWORK, 413, "HTTPRequestEntityTooLarge"),
])
def test_a_body_that_breaks_off_is_a_4xx_and_nothing_is_made(impatient, headers, body, status,
                                                            kind):
    """Before, eventlet's errors reading the body escaped the API: a bare 500 without a
    NeutronError (and the 413 became one while its body was drained)."""
    got, answer = raw(impatient, f"POST /v2.0/networks HTTP/1.1\r\nHost: x\r\n"
                                 f"Connection: close\r\n{headers}\r\n".encode() + body)
    assert (got, error_type(answer)) == (status, kind), answer
    assert impatient.api.get("/v2.0/networks") == (200, {"networks": []})
    assert "Traceback" not in impatient.log()
