"""Neutron's quotas: limits per project, their API, and OverQuota on the API's creates."""
import http.client
import json
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.harness import Controller

DEFAULTS = {"network": 100, "subnet": 100, "port": 500, "router": 10, "floatingip": 50,
            "security_group": 10, "security_group_rule": 100, "subnetpool": -1}


def over_quota(kind: str) -> dict:
    return {"NeutronError": {"type": "OverQuota", "detail": "",
                             "message": f"Quota exceeded for resources: ['{kind}']."}}


def post_as(api, project: str, kind: str, **fields):
    return api.request("POST", f"/v2.0/{kind.replace('_', '-')}s", {kind: fields},
                       headers={"X-Project-Id": project})


def test_defaults_show_and_extensions(api):
    assert api.get("/v2.0/quotas/fresh") == (200, {"quota": DEFAULTS})
    assert api.get("/v2.0/quotas/fresh/default") == (200, {"quota": DEFAULTS})
    aliases = {e["alias"] for e in api.get("/v2.0/extensions")[1]["extensions"]}
    assert {"quotas", "quota_details"} <= aliases


def test_set_list_details_and_reset(api):
    status, body = api.put("/v2.0/quotas/proj-a", {"quota": {"network": 3, "port": -1}})
    assert status == 200 and body["quota"] == {**DEFAULTS, "network": 3, "port": -1}
    assert api.get("/v2.0/quotas/proj-a")[1]["quota"]["network"] == 3
    listed = api.get("/v2.0/quotas")[1]["quotas"]
    assert {**DEFAULTS, "network": 3, "port": -1, "project_id": "proj-a",
            "tenant_id": "proj-a"} in listed
    assert post_as(api, "proj-a", "network", name="a1")[0] == 201
    details = api.get("/v2.0/quotas/proj-a/details")[1]["quota"]
    assert details["network"] == {"limit": 3, "used": 1, "reserved": 0}
    assert details["port"] == {"limit": -1, "used": 0, "reserved": 0}
    assert api.delete("/v2.0/quotas/proj-a") == (204, None)
    assert api.get("/v2.0/quotas/proj-a") == (200, {"quota": DEFAULTS})
    assert all(q["project_id"] != "proj-a" for q in api.get("/v2.0/quotas")[1]["quotas"])


@pytest.mark.parametrize("quota, kind, message", [
    ({"widgets": 1}, "HTTPBadRequest", "Unrecognized attribute(s) 'widgets'"),
    ({"network": "many"}, "InvalidInput",
     "Invalid input for operation: 'many' is not an integer."),
    ({"network": 1.5}, "InvalidInput",
     "Invalid input for operation: '1.5' is not an integer."),
    ({"network": -2}, "HTTPBadRequest",
     "Invalid input for network. Reason: '-2' is too small - must be at least '-1'."),
])
def test_bad_quota_updates_are_400(api, quota, kind, message):
    status, body = api.put("/v2.0/quotas/proj-bad", {"quota": quota})
    assert status == 400
    assert body["NeutronError"]["type"] == kind and body["NeutronError"]["message"] == message
    assert api.get("/v2.0/quotas/proj-bad")[1]["quota"] == DEFAULTS


@pytest.mark.parametrize("check_limit", [True, "true", "1"])
def test_check_limit_refuses_a_limit_under_the_usage(api, check_limit):
    project = f"proj-check-{check_limit}"
    for name in ("c1", "c2"):
        assert post_as(api, project, "network", name=name)[0] == 201
    status, body = api.put(f"/v2.0/quotas/{project}",
                           {"quota": {"network": 1, "check_limit": check_limit}})
    assert status == 409 and body["NeutronError"]["type"] == "InvalidQuotaValue", body
    assert api.get(f"/v2.0/quotas/{project}")[1]["quota"] == DEFAULTS
    forced = {"quota": {"network": 1, "check_limit": check_limit, "force": True}}
    assert api.put(f"/v2.0/quotas/{project}", forced)[0] == 200
    assert api.get(f"/v2.0/quotas/{project}")[1]["quota"]["network"] == 1


def test_a_null_check_limit_is_no_check(api):
    project = "proj-null-check"
    assert post_as(api, project, "network", name="n1")[0] == 201
    body = {"quota": {"network": 0, "check_limit": None, "force": None}}
    assert api.put(f"/v2.0/quotas/{project}", body)[0] == 200
    assert api.get(f"/v2.0/quotas/{project}")[1]["quota"]["network"] == 0


@pytest.mark.parametrize("flag", ["check_limit", "force"])
def test_a_quota_flag_that_is_not_a_boolean_is_a_400(api, flag):
    status, body = api.put("/v2.0/quotas/proj-flag", {"quota": {"network": 1, flag: "maybe"}})
    assert status == 400 and body["NeutronError"]["type"] == "InvalidInput", body
    assert api.get("/v2.0/quotas/proj-flag")[1]["quota"] == DEFAULTS


def test_every_create_is_refused_over_quota(api):
    project = "proj-full"
    assert api.put(f"/v2.0/quotas/{project}", {"quota": {
        "network": 2, "subnet": 1, "port": 3, "router": 1, "floatingip": 1,
        "security_group": 2, "security_group_rule": 5, "subnetpool": 1}})[0] == 200
    assert post_as(api, project, "subnetpool", name="p1", prefixes=["10.91.0.0/16"])[0] == 201
    assert post_as(api, project, "subnetpool", name="p2",
                   prefixes=["10.92.0.0/16"]) == (409, over_quota("subnetpool"))
    public = api.create("network", **{"router:external": True,
                                      "provider:network_type": "flat",
                                      "provider:physical_network": "public"})
    api.create("subnet", network_id=public["id"], cidr="198.51.100.0/24", ip_version=4,
               enable_dhcp=False)
    status, net = post_as(api, project, "network", name="q1")
    assert status == 201
    assert post_as(api, project, "subnet", network_id=net["network"]["id"],
                   cidr="10.90.0.0/24", ip_version=4)[0] == 201      # + a DHCP port
    assert post_as(api, project, "subnet", network_id=net["network"]["id"],
                   cidr="10.90.1.0/24", ip_version=4) == (409, over_quota("subnet"))
    status, router = post_as(api, project, "router", name="r1")
    assert status == 201
    assert post_as(api, project, "router") == (409, over_quota("router"))
    assert post_as(api, project, "floatingip", floating_network_id=public["id"])[0] == 201
    assert post_as(api, project, "floatingip",
                   floating_network_id=public["id"]) == (409, over_quota("floatingip"))
    # the DHCP port counts (as Neutron counts it) but was never refused: one port left
    assert post_as(api, project, "port", network_id=net["network"]["id"])[0] == 201
    ports = api.get(f"/v2.0/quotas/{project}/details")[1]["quota"]["port"]["used"]
    for _ in range(3 - ports):
        assert post_as(api, project, "port", network_id=net["network"]["id"])[0] == 201
    assert post_as(api, project, "port",
                   network_id=net["network"]["id"]) == (409, over_quota("port"))
    status, group = post_as(api, project, "security_group", name="web")   # + default
    assert status == 201
    assert post_as(api, project, "security_group", name="db") == (409,
                                                                 over_quota("security_group"))
    rules = api.get(f"/v2.0/quotas/{project}/details")[1]["quota"]["security_group_rule"]
    assert rules["used"] >= 5    # the template rules were never refused
    assert post_as(api, project, "security_group_rule",
                   security_group_id=group["security_group"]["id"], direction="ingress",
                   protocol="tcp") == (409, over_quota("security_group_rule"))
    assert post_as(api, project, "network")[0] == 201
    assert post_as(api, project, "network") == (409, over_quota("network"))
    # other projects are not limited by this one's quota
    assert post_as(api, "proj-other", "network")[0] == 201


def _create_network(port: int, project: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/v2.0/networks", json.dumps({"network": {}}),
                     {"Content-Type": "application/json", "X-Project-Id": project})
        response = conn.getresponse()
        body = json.loads(response.read())
        if response.status == 409:
            assert body == over_quota("network")
        return response.status
    finally:
        conn.close()


def test_parallel_creates_never_exceed_the_quota(controller, api):
    project = "proj-race"
    assert api.put(f"/v2.0/quotas/{project}", {"quota": {"network": 10}})[0] == 200
    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(lambda _: _create_network(controller.api_port, project),
                                 range(20)))
    assert sorted(statuses) == [201] * 10 + [409] * 10
    networks = api.get(f"/v2.0/networks?project_id={project}")[1]["networks"]
    assert len(networks) == 10


def test_configured_defaults_and_durable_limits():
    ctl = Controller(extra={"quotas": {"quota_network": "1", "quota_router": "-1"}}).start()
    try:
        api = ctl.api
        assert api.get("/v2.0/quotas/p/default")[1]["quota"] == {
            **DEFAULTS, "network": 1, "router": -1}
        assert post_as(api, "p", "network")[0] == 201
        assert post_as(api, "p", "network") == (409, over_quota("network"))
        assert api.put("/v2.0/quotas/p", {"quota": {"network": 4}})[0] == 200
        ctl.kill()   # SIGKILL: the acknowledged limit must be on disk
        ctl.start()
        assert api.get("/v2.0/quotas/p")[1]["quota"]["network"] == 4
        assert post_as(api, "p", "network")[0] == 201
    finally:
        ctl.kill()
        shutil.rmtree(ctl.workdir, ignore_errors=True)


def test_gateway_snat_and_floating_ip_ports_count_against_no_project(api):
    """Neutron makes them with tenant_id '': a router's gateway must not eat its owner's
    port quota (it made the next port of a project at 4 ports a 409)."""
    project = "proj-gateway"
    public = api.create("network", **{"router:external": True,
                                      "provider:network_type": "vlan",
                                      "provider:physical_network": "physnet1",
                                      "provider:segmentation_id": 201})
    api.create("subnet", network_id=public["id"], cidr="198.51.101.0/24", ip_version=4,
               enable_dhcp=False)
    network = post_as(api, project, "network")[1]["network"]
    subnet = post_as(api, project, "subnet", network_id=network["id"], cidr="10.91.0.0/24",
                     ip_version=4)[1]["subnet"]                         # + its DHCP port
    router = post_as(api, project, "router", external_gateway_info={
        "network_id": public["id"]})[1]["router"]                       # + qg-
    api.put(f"/v2.0/routers/{router['id']}/add_router_interface",
            {"subnet_id": subnet["id"]})                                # + qr-, sg-
    assert post_as(api, project, "floatingip", floating_network_id=public["id"])[0] == 201
    used = api.get(f"/v2.0/quotas/{project}/details")[1]["quota"]["port"]["used"]
    assert used == 2                                                    # DHCP and qr-
    owners = {port["device_owner"]: port["project_id"]
              for port in api.get("/v2.0/ports")[1]["ports"]}
    assert owners["network:router_gateway"] == owners["network:floatingip"] == ""
