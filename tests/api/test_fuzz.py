"""A bounded fuzz of the REST API (the real ryu-manager, raw HTTP): random and malformed
methods, paths, query strings, headers and bodies.  No answer is a 5xx, every error is a
NeutronError, none takes 2 s, and afterwards the model's invariants hold and the API lists
exactly what the database stores."""
import ipaddress
import json
import random
import sqlite3
import time
from urllib.parse import quote

from tests.api.test_hardening import raw

SEED = 20261123
REQUESTS = 3000
COLLECTIONS = ("networks", "subnets", "ports", "routers")
FIELDS = ("name", "description", "admin_state_up", "shared", "mtu", "network_id", "cidr",
          "ip_version", "gateway_ip", "allocation_pools", "enable_dhcp", "dns_nameservers",
          "host_routes", "mac_address", "fixed_ips", "device_id", "device_owner",
          "port_security_enabled", "allowed_address_pairs", "security_groups",
          "binding:host_id", "distributed", "external_gateway_info", "routes", "tenant_id",
          "project_id", "provider:network_type", "provider:physical_network",
          "provider:segmentation_id", "id", "status", "subnet_id", "port_id", "bogus")
NASTY = [None, True, False, 0, -1, 1, 4095, 2 ** 70, 1.5, "", "x" * 300, "é", "\u0000",
         "10.0.0.0/24", "10.0.0.1", "10.0.0.300", "fa:16:3e:00:00:01", "ff:ff:ff:ff:ff:ff",
         "vxlan", "vlan", "physnet1", [], {}, [1, [2]], {"a": {"b": [None]}},
         [{"subnet_id": "x"}], [{"ip_address": "10.0.0.5"}], ["8.8.8.8", "8.8.8.8"]]
LITERALS = [b"1e400", b"NaN", b"-Infinity", b"[" * 200 + b"]" * 200, b'"\\ud800"']
QUERY_KEYS = ["fields", "limit", "marker", "sort_key", "sort_dir", "page_reverse", "name",
              "mtu", "fixed_ips", "ip_version", "revision_number", "id", "tags", "?", "%"]
QUERY_VALUES = ["", "0", "-1", "5", "abc", "%ff", "%00", "true", "asc", "desc", "mtu",
                "name", "ip_address=10.0.0.2", "subnet_id=", "é", "%e2%82%ac"]


class Fuzzer:
    def __init__(self, rng: random.Random, ids: dict[str, list[str]]):
        self.rng, self.ids = rng, ids

    def pick(self, items):
        return items[self.rng.randrange(len(items))]

    def identifier(self, collection: str) -> str:
        known = self.ids[collection]
        return self.pick(known + ["0" * 36, "%ff", "é", "x" * 80, "..", ""]
                         if not known or self.rng.random() < 0.3 else known)

    def path(self) -> str:
        collection = self.pick(COLLECTIONS)
        shapes = [f"/v2.0/{collection}", f"/v2.0/{collection}/{self.identifier(collection)}",
                  f"/v2.0/routers/{self.identifier('routers')}/add_router_interface",
                  f"/v2.0/routers/{self.identifier('routers')}/remove_router_interface",
                  "/v2.0/agents", f"/v2.0/agents/{self.identifier('ports')}", "/v2.0/",
                  "/", "/v2.0/extensions", "/v2.0/topology", "/v2.0/wiring",
                  f"/v2.0/{collection}.json", f"/v3/{collection}", "/v2.0/%ff%fe",
                  f"/v2.0/{collection}/{self.identifier(collection)}/tags"]
        path = self.pick(shapes)
        if self.rng.random() < 0.6:
            pairs = [(self.pick(QUERY_KEYS), self.pick(QUERY_VALUES))
                     for _ in range(self.rng.randrange(1, 4))]
            path += "?" + "&".join(f"{k}={v}" for k, v in pairs)
        return path

    def document(self, kind: str) -> dict:
        """A plausible document of the kind, most of the time with a field or two wrong."""
        octet = self.rng.randrange(80, 90)
        plausible = {
            "network": {"name": "fuzzed"},
            "subnet": {"network_id": self.identifier("networks"), "ip_version": 4,
                       "cidr": f"10.{octet}.{self.rng.randrange(4)}.0/{self.pick([24, 28])}"},
            "port": {"network_id": self.identifier("networks"),
                     **self.pick([{}, {"fixed_ips": [{"subnet_id": self.identifier("subnets")}]},
                                  {"fixed_ips": [{"ip_address": f"10.70.0.{octet}"}]},
                                  {"mac_address": f"fa:16:3e:00:00:{octet:02x}"}])},
            "router": {"name": "fuzzed"},
        }.get(kind, {})
        for name in self.rng.sample(FIELDS, self.rng.randrange(0, 3)):
            plausible[name] = self.pick(NASTY)
        return plausible

    def body(self, path: str) -> bytes:
        roll = self.rng.random()
        if roll < 0.05:
            return b""
        if roll < 0.10:
            return bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(1, 40)))
        if roll < 0.15:
            return b'{"network": {"mtu": ' + self.pick(LITERALS) + b"}}"
        kind = path.split("/")[2].split("?")[0].rstrip("s") if path.count("/") >= 2 else "x"
        document = {kind: self.document(kind)} if roll < 0.9 else self.document(kind)
        if "router_interface" in path:
            document = {self.pick(["subnet_id", "port_id"]): self.pick(
                self.ids["subnets"] + self.ids["ports"] + ["nope", 7])}
        return json.dumps(document).encode()

    def request(self) -> bytes:
        method = self.pick(["GET"] * 8 + ["POST"] * 6 + ["PUT"] * 4 + ["DELETE"] * 2
                           + ["PATCH", "OPTIONS"])
        path = self.path()
        if method == "POST" and self.rng.random() < 0.7:   # mostly where POST goes
            path = f"/v2.0/{self.pick(COLLECTIONS)}"
        elif method in ("PUT", "DELETE") and self.rng.random() < 0.7:
            collection = self.pick(COLLECTIONS)
            path = f"/v2.0/{collection}/{self.identifier(collection)}"
        path = quote(path, safe="/?&=%:")
        headers = [f"{method} {path} HTTP/1.1", "Host: fuzz", "Connection: close"]
        if self.rng.random() < 0.8:
            headers.append(f"Content-Type: {self.pick(['application/json', 'text/plain'])}")
        if self.rng.random() < 0.1:
            headers.append(f"X-Project-Id: {self.pick(['p1', 'x' * 300, 'é'])}")
        body = self.body(path) if method in ("POST", "PUT") else b""
        if method in ("POST", "PUT") and self.rng.random() < 0.1:
            headers.append("Transfer-Encoding: chunked")
            body = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n" if body else b"0\r\n\r\n"
        else:
            headers.append(f"Content-Length: {len(body)}")
        return "\r\n".join(headers).encode("utf-8") + b"\r\n\r\n" + body


def stored(db_path) -> dict[str, dict[str, dict]]:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        found: dict[str, dict[str, dict]] = {kind: {} for kind in ("network", "subnet", "port",
                                                                    "router")}
        for kind, resource_id, body in conn.execute("SELECT kind, id, body FROM resources"):
            if kind in found:
                found[kind][resource_id] = json.loads(body)
    return found


def test_random_and_malformed_requests_get_neutron_errors_and_break_nothing(controller, api):
    ids: dict[str, list[str]] = {collection: [] for collection in COLLECTIONS}
    for index in range(3):
        network = api.create("network", name=f"fuzz{index}")
        subnet = api.create("subnet", network_id=network["id"], ip_version=4,
                            cidr=f"10.{70 + index}.0.0/24")
        ids["networks"].append(network["id"])
        ids["subnets"].append(subnet["id"])
        ids["ports"].append(api.create("port", network_id=network["id"])["id"])
    ids["routers"].append(api.create("router", name="fuzz")["id"])
    fuzzer = Fuzzer(random.Random(SEED), ids)
    slowest = 0.0
    for _ in range(REQUESTS):
        request = fuzzer.request()
        started = time.monotonic()
        status, body = raw(controller, request)
        slowest = max(slowest, time.monotonic() - started)
        assert status < 500, (request[:300], status, body)
        if status >= 400 and request.split(b" ")[0] != b"HEAD":
            assert isinstance(body, dict) and set(body) == {"NeutronError"}, (request[:300],
                                                                               body)
        if status == 201:
            kind, document = next(iter(body.items()))
            ids[kind + "s"].append(document["id"])
    assert slowest < 2, f"a request took {slowest:.2f} s"
    assert "Traceback" not in controller.log()
    check_invariants(api, stored(controller.db_path))


# What a record keeps for the controller alone, never shown (binding.py's rule of who
# moves a port)
STORED_ONLY = {"port": {"host_named_by_api"}}


def check_invariants(api, records: dict[str, dict[str, dict]]) -> None:
    listed = {kind: {item["id"]: item for item in api.get(f"/v2.0/{kind}s")[1][f"{kind}s"]}
              for kind in records}
    for kind, documents in records.items():
        assert set(listed[kind]) == set(documents), kind
        for resource_id, document in documents.items():
            shown = listed[kind][resource_id]
            document = {key: value for key, value in document.items()
                        if key not in STORED_ONLY.get(kind, ())}
            assert {key: shown[key] for key in document} == document, (kind, resource_id)
    subnets = records["subnet"]
    macs, addresses = set(), set()
    for port in records["port"].values():
        mac = (port["network_id"], port["mac_address"])
        assert mac not in macs, f"MAC {mac} twice"
        macs.add(mac)
        for fixed in port["fixed_ips"]:
            subnet = subnets[fixed["subnet_id"]]
            assert subnet["network_id"] == port["network_id"]
            assert ipaddress.ip_address(fixed["ip_address"]) in ipaddress.ip_network(
                subnet["cidr"]), fixed
            address = (fixed["subnet_id"], fixed["ip_address"])
            assert address not in addresses, f"address {address} twice"
            addresses.add(address)
