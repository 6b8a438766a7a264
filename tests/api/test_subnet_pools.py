"""Subnet pools and address scopes as Neutron serves them: subnets allocated from a pool
never overlap, Neutron's checks and errors, and allocations that survive a restart."""
import ipaddress
import shutil
import uuid

import pytest

from tests.harness import Controller


def pool(api, name: str | None = None, **fields) -> dict:
    status, body = api.post("/v2.0/subnetpools", {"subnetpool": {
        "name": name or f"pool-{uuid.uuid4().hex[:6]}", **fields}})
    assert status == 201, body
    return body["subnetpool"]


def scope(api, **fields) -> dict:
    status, body = api.post("/v2.0/address-scopes", {"address_scope": {
        "name": f"scope-{uuid.uuid4().hex[:6]}", "ip_version": 4, **fields}})
    assert status == 201, body
    return body["address_scope"]


def subnet(api, network: dict, **fields) -> tuple[int, dict]:
    return api.post("/v2.0/subnets", {"subnet": {"network_id": network["id"],
                                                 "ip_version": 4, **fields}})


def error(reply: tuple[int, dict]) -> tuple[int, str, str]:
    status, body = reply
    return status, body["NeutronError"]["type"], body["NeutronError"]["message"]


@pytest.fixture
def network(api):
    return api.create("network", name=f"pooled-{uuid.uuid4().hex[:6]}")


def test_a_pool_has_neutrons_fields_and_defaults(api):
    created = pool(api, "p-fields", prefixes=["10.90.0.0/16", "10.90.0.0/24", "10.91.0.0/16"],
                   description="tenant space")
    assert {key: created[key] for key in (
        "name", "prefixes", "min_prefixlen", "default_prefixlen", "max_prefixlen",
        "is_default", "shared", "address_scope_id", "default_quota", "ip_version",
        "description", "tags", "revision_number")} == {
        "name": "p-fields", "prefixes": ["10.90.0.0/15"],   # merged, as Neutron keeps them
        "min_prefixlen": "8", "default_prefixlen": "8", "max_prefixlen": "32",
        "is_default": False, "shared": False, "address_scope_id": None,
        "default_quota": None, "ip_version": 4, "description": "tenant space", "tags": [],
        "revision_number": 1}
    assert api.get(f"/v2.0/subnetpools/{created['id']}") == (200, {"subnetpool": created})
    listed = api.get("/v2.0/subnetpools?name=p-fields")[1]["subnetpools"]
    assert [p["id"] for p in listed] == [created["id"]]
    wide = pool(api, "p-wide", prefixes=["10.92.0.0/16"], min_prefixlen=16,
                default_prefixlen=24)
    # prefix lengths filter and sort as numbers, though shown as strings
    assert [p["id"] for p in api.get("/v2.0/subnetpools?min_prefixlen=16")[1][
        "subnetpools"]] == [wide["id"]]
    ordered = [p["name"] for p in api.get("/v2.0/subnetpools?sort_key=min_prefixlen&"
                                          "sort_dir=desc")[1]["subnetpools"]]
    assert ordered.index("p-wide") < ordered.index("p-fields")   # 16 before 8
    assert api.get("/v2.0/subnetpools?sort_key=prefixlen&sort_dir=asc")[0] == 400
    assert api.put(f"/v2.0/subnetpools/{created['id']}/tags/blue", {})[0] == 201
    assert api.get("/v2.0/subnetpools?tags=blue")[1]["subnetpools"][0]["id"] == created["id"]


def test_subnets_from_a_pool_never_overlap_and_take_the_smallest_fitting_block(api, network):
    space = pool(api, prefixes=["10.50.0.0/24"], default_prefixlen=26)
    made = [subnet(api, network, subnetpool_id=space["id"], prefixlen="26") for _ in range(2)]
    assert [status for status, _ in made] == [201, 201], made
    cidrs = [body["subnet"]["cidr"] for _, body in made]
    assert cidrs == ["10.50.0.0/26", "10.50.0.64/26"]
    assert all(body["subnet"]["subnetpool_id"] == space["id"] for _, body in made)
    assert "prefixlen" not in made[0][1]["subnet"]   # a request's word, not an attribute
    # another network draws from the same pool: its default length, the next free block
    other = api.create("network", name="pooled-other")
    status, body = subnet(api, other, subnetpool_id=space["id"])
    assert status == 201 and body["subnet"]["cidr"] == "10.50.0.128/26"
    # a /27 goes into the smallest free block that fits (the last /26), at its start
    status, small = subnet(api, other, subnetpool_id=space["id"], prefixlen=27)
    assert status == 201 and small["subnet"]["cidr"] == "10.50.0.192/27"
    assert error(subnet(api, other, subnetpool_id=space["id"], prefixlen=26)) == (
        409, "SubnetAllocationError",
        "Failed to allocate subnet: Insufficient prefix space to allocate subnet size /26.")
    # a freed block is allocated again
    assert api.delete(f"/v2.0/subnets/{made[1][1]['subnet']['id']}")[0] == 204
    status, again = subnet(api, other, subnetpool_id=space["id"], prefixlen=26)
    assert status == 201 and again["subnet"]["cidr"] == "10.50.0.64/26"
    networks = [ipaddress.ip_network(s["cidr"]) for s in api.get(
        f"/v2.0/subnets?subnetpool_id={space['id']}")[1]["subnets"]]
    assert len(networks) == 4 and not any(a.overlaps(b) for i, a in enumerate(networks)
                                          for b in networks[i + 1:])


def test_a_cidr_asked_of_a_pool_must_be_free_in_it(api, network):
    space = pool(api, prefixes=["10.51.0.0/24"], min_prefixlen=24, max_prefixlen=28,
                 default_prefixlen=26)
    status, body = subnet(api, network, subnetpool_id=space["id"], cidr="10.51.0.64/26")
    assert status == 201 and body["subnet"]["cidr"] == "10.51.0.64/26"
    for taken_or_outside in ("10.51.0.64/27", "10.52.0.0/26"):
        assert error(subnet(api, network, subnetpool_id=space["id"],
                            cidr=taken_or_outside)) == (
            409, "SubnetAllocationError", "Failed to allocate subnet: Cannot allocate "
            "requested subnet from the available set of prefixes.")
    assert error(subnet(api, network, subnetpool_id=space["id"], cidr="10.51.0.128/29"))[:2] == (
        400, "MaxPrefixSubnetAllocationError")   # a named CIDR keeps the bounds too
    assert error(subnet(api, network, subnetpool_id=space["id"], prefixlen=29)) == (
        400, "MaxPrefixSubnetAllocationError",
        "Unable to allocate subnet with prefix length 29, maximum allowed prefix is 28.")
    assert error(subnet(api, network, subnetpool_id=space["id"], prefixlen=23)) == (
        400, "MinPrefixSubnetAllocationError",
        "Unable to allocate subnet with prefix length 23, minimum allowed prefix is 24.")
    assert error(subnet(api, network, subnetpool_id=space["id"], cidr="10.51.0.0/26",
                        prefixlen=26))[:2] == (400, "BadRequest")
    assert error(subnet(api, network)) == (
        400, "BadRequest",
        "Bad subnets request: a subnetpool must be specified in the absence of a cidr.")
    assert error(subnet(api, network, subnetpool_id=str(uuid.uuid4())))[:2] == (
        404, "SubnetPoolNotFound")


def test_the_default_pool_one_per_family(api, network):
    assert error(subnet(api, network, use_default_subnetpool=True)) == (
        400, "BadRequest", "Bad subnets request: No default subnetpool found for IPv4.")
    default = pool(api, prefixes=["10.52.0.0/16"], default_prefixlen=24, is_default=True)
    assert error(api.post("/v2.0/subnetpools", {"subnetpool": {
        "name": "second-default", "prefixes": ["10.53.0.0/16"], "is_default": True}}))[:2] == (
        400, "InvalidInput")
    status, body = subnet(api, network, use_default_subnetpool=True)
    assert status == 201 and body["subnet"]["cidr"] == "10.52.0.0/24"
    assert body["subnet"]["subnetpool_id"] == default["id"]
    assert error(subnet(api, network, use_default_subnetpool=True,
                        subnetpool_id=default["id"]))[:2] == (400, "BadRequest")
    # not the default any more: none is
    assert api.put(f"/v2.0/subnetpools/{default['id']}",
                   {"subnetpool": {"is_default": False}})[0] == 200
    assert error(subnet(api, network, use_default_subnetpool=True))[0] == 400


def test_pool_checks_updates_and_deletion(api, network):
    for fields, kind in (({"prefixes": []}, "EmptySubnetPoolPrefixList"),
                         ({"prefixes": ["10.54.0.0/16"], "min_prefixlen": 24,
                           "max_prefixlen": 20}, "IllegalSubnetPoolPrefixBounds"),
                         ({"prefixes": ["10.54.0.0/16"], "default_prefixlen": 33},
                          "IllegalSubnetPoolPrefixBounds"),
                         ({"prefixes": ["10.54.0.0/33"]}, "InvalidInput"),
                         ({"prefixes": ["10.54.0.0/16"], "min_prefixlen": "x"},
                          "InvalidInput")):
        reply = api.post("/v2.0/subnetpools", {"subnetpool": {"name": "bad", **fields}})
        assert error(reply)[:2] == (400, kind), fields
    assert error(api.post("/v2.0/subnetpools", {"subnetpool": {"prefixes": [
        "10.54.0.0/16"]}}))[:2] == (400, "HTTPBadRequest")   # name is required
    assert error(api.post("/v2.0/subnetpools", {"subnetpool": {"name": " ", "prefixes": [
        "10.54.0.0/16"]}}))[:2] == (400, "InvalidInput")     # and not blank
    space = pool(api, prefixes=["10.54.0.0/24"], default_prefixlen=25)
    path = f"/v2.0/subnetpools/{space['id']}"
    assert error(api.put(path, {"subnetpool": {"prefixes": ["10.55.0.0/24"]}})) == (
        400, "IllegalSubnetPoolPrefixUpdate", "Illegal update to prefixes: Existing "
        "prefixes must be a subset of the new prefixes.")
    status, body = api.put(path, {"subnetpool": {"prefixes": ["10.54.0.0/23"],
                                                 "name": "grown"}})
    assert status == 200 and body["subnetpool"]["prefixes"] == ["10.54.0.0/23"]
    assert body["subnetpool"]["revision_number"] == 2
    assert error(api.put(path, {"subnetpool": {"shared": True}}))[:2] == (400, "HTTPBadRequest")
    status, made = subnet(api, network, subnetpool_id=space["id"])
    assert status == 201 and made["subnet"]["cidr"] == "10.54.0.0/25"
    assert error(api.delete(path)) == (400, "SubnetPoolDeleteError", "Unable to delete "
                                       "subnet pool: Subnet pool has existing allocations.")
    assert api.delete(f"/v2.0/subnets/{made['subnet']['id']}")[0] == 204
    assert api.delete(path)[0] == 204
    assert error(api.get(path))[:2] == (404, "SubnetPoolNotFound")


def test_a_network_takes_its_subnets_from_one_pool(api, network):
    first = pool(api, prefixes=["10.56.0.0/16"], default_prefixlen=24)
    second = pool(api, prefixes=["10.57.0.0/16"], default_prefixlen=24)
    assert subnet(api, network, subnetpool_id=first["id"])[0] == 201
    message = "Subnets hosted on the same network must be allocated from the same subnet pool."
    assert error(subnet(api, network, subnetpool_id=second["id"])) == (
        400, "NetworkSubnetPoolAffinityError", message)
    assert error(subnet(api, network, cidr="10.58.0.0/24"))[:2] == (
        400, "NetworkSubnetPoolAffinityError")
    assert subnet(api, network, subnetpool_id=first["id"])[0] == 201   # the same pool: fine


def test_a_network_stays_in_one_address_scope(api, network):
    corp = scope(api)
    first = pool(api, prefixes=["10.62.0.0/16"], default_prefixlen=24,
                 address_scope_id=corp["id"])
    second = pool(api, prefixes=["10.63.0.0/16"], default_prefixlen=24,
                  address_scope_id=corp["id"])
    elsewhere = pool(api, prefixes=["10.64.0.0/16"], default_prefixlen=24)
    assert subnet(api, network, subnetpool_id=first["id"])[0] == 201
    assert subnet(api, network, subnetpool_id=second["id"])[0] == 201   # one scope: fine
    message = ("Subnets of the same address family hosted on the same network must all "
               "participate in the same address scope.")
    assert error(subnet(api, network, subnetpool_id=elsewhere["id"])) == (
        400, "NetworkAddressScopeAffinityError", message)
    assert error(subnet(api, network, cidr="10.65.0.0/24"))[:2] == (
        400, "NetworkSubnetPoolAffinityError")
    # taking one of the two pools out of the scope would split the network
    for scope_id in (None, scope(api)["id"]):
        assert error(api.put(f"/v2.0/subnetpools/{first['id']}", {"subnetpool": {
            "address_scope_id": scope_id}})) == (400, "NetworkAddressScopeAffinityError",
                                                  message)
    assert api.get(f"/v2.0/subnetpools/{first['id']}")[1]["subnetpool"][
        "address_scope_id"] == corp["id"]


def test_a_projects_share_of_a_pool_is_its_default_quota(api):
    space = pool(api, prefixes=["10.59.0.0/16"], default_prefixlen=26, default_quota=128)
    mine = api.request("POST", "/v2.0/networks", {"network": {"name": "q"}},
                       headers={"X-Project-Id": "pool-quota"})[1]["network"]
    post = {"network_id": mine["id"], "ip_version": 4, "subnetpool_id": space["id"]}
    replies = [api.request("POST", "/v2.0/subnets", {"subnet": post},
                           headers={"X-Project-Id": "pool-quota"}) for _ in range(3)]
    assert [status for status, _ in replies] == [201, 201, 409]
    assert error(replies[2]) == (409, "SubnetPoolQuotaExceeded",
                                 "Per-project subnet pool prefix quota exceeded.")


def test_address_scopes_keep_their_pools_prefixes_unique(api, network):
    made = scope(api, name="corp")
    assert set(made) == {"id", "name", "shared", "ip_version", "project_id", "tenant_id"}
    assert (made["name"], made["shared"], made["ip_version"]) == ("corp", False, 4)
    first = pool(api, prefixes=["10.60.0.0/16"], default_prefixlen=24,
                 address_scope_id=made["id"])
    assert error(api.post("/v2.0/subnetpools", {"subnetpool": {
        "name": "clash", "prefixes": ["10.60.128.0/17"], "address_scope_id": made["id"]}})) == (
        409, "AddressScopePrefixConflict", "Failed to associate address scope: subnetpools "
        "within an address scope must have unique prefixes.")
    pool(api, prefixes=["10.60.128.0/17"])   # outside the scope the same prefix is fine
    assert error(api.post("/v2.0/address-scopes", {"address_scope": {
        "name": "v6", "ip_version": 6}}))[0] == 400   # IPv6 is not served here
    status, body = subnet(api, network, subnetpool_id=first["id"])
    assert status == 201
    shown = api.get(f"/v2.0/networks/{network['id']}")[1]["network"]
    assert (shown["ipv4_address_scope"], shown["ipv6_address_scope"]) == (made["id"], None)
    path = f"/v2.0/address-scopes/{made['id']}"
    assert error(api.delete(path))[:2] == (409, "AddressScopeInUse")
    assert api.put(path, {"address_scope": {"shared": True}})[0] == 200
    assert error(api.put(path, {"address_scope": {"shared": False}}))[:2] == (
        400, "AddressScopeUpdateError")
    assert error(api.put(path, {"address_scope": {"ip_version": 4}}))[0] == 400
    assert error(api.get(f"/v2.0/address-scopes/{uuid.uuid4()}"))[:2] == (
        404, "AddressScopeNotFound")
    assert api.get("/v2.0/address-scopes?name=corp")[1]["address_scopes"][0]["id"] == made["id"]


def test_pools_and_their_allocations_survive_kill_9():
    ctl = Controller().start()
    try:
        api = ctl.api
        space = pool(api, prefixes=["10.61.0.0/24"], default_prefixlen=26)
        network = api.create("network", name="durable-pool")
        assert subnet(api, network, subnetpool_id=space["id"])[1]["subnet"]["cidr"] == (
            "10.61.0.0/26")
        before = api.get("/v2.0/subnetpools")[1]
        ctl.kill()
        ctl.start()
        assert api.get("/v2.0/subnetpools")[1] == before
        status, body = subnet(api, network, subnetpool_id=space["id"])
        assert status == 201 and body["subnet"]["cidr"] == "10.61.0.64/26"
    finally:
        ctl.kill()
        shutil.rmtree(ctl.workdir, ignore_errors=True)
