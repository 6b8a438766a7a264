"""Neutron's tags (standard-attr-tag) on the real controller: the tags sub-resource with
Neutron's statuses and messages, tag filters on listings, revisions, and durability."""
import shutil

import pytest

from tests.harness import Controller

COLLECTIONS = ("networks", "subnets", "ports", "routers", "floatingips", "security-groups")


def _error(body: dict) -> tuple[str, str]:
    return body["NeutronError"]["type"], body["NeutronError"]["message"]


@pytest.fixture(scope="module")
def resources(controller):
    """One resource of each taggable kind, by collection."""
    api = controller.api
    public = api.create("network", name="tag-public", **{
        "router:external": True, "provider:network_type": "flat",
        "provider:physical_network": "public"})
    api.create("subnet", network_id=public["id"], cidr="198.51.100.0/24", ip_version=4,
               enable_dhcp=False)
    net = api.create("network", name="tag-net")
    subnet = api.create("subnet", network_id=net["id"], cidr="10.90.0.0/24", ip_version=4)
    port = api.create("port", network_id=net["id"])
    router = api.create("router", name="tag-router",
                        external_gateway_info={"network_id": public["id"]})
    api.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": subnet["id"]})
    fip = api.create("floatingip", floating_network_id=public["id"])
    group = api.create("security_group", name="tag-group")
    return {"networks": net, "subnets": subnet, "ports": port, "routers": router,
            "floatingips": fip, "security-groups": group}


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_tag_sub_resource_statuses_and_bodies(api, resources, collection):
    kind = collection.replace("-", "_")[:-1]
    base = f"/v2.0/{collection}/{resources[collection]['id']}"
    assert api.get(f"{base}/tags") == (200, {"tags": []})
    assert api.put(f"{base}/tags", {"tags": ["red", "blue"]}) == (200, {"tags": ["red", "blue"]})
    assert api.get(f"{base}/tags") == (200, {"tags": ["blue", "red"]})
    assert api.get(base)[1][kind]["tags"] == ["blue", "red"]
    assert api.get(f"{base}/tags/red") == (204, None)
    status, body = api.get(f"{base}/tags/green")
    assert status == 404 and _error(body) == ("TagNotFound", "Tag green could not be found.")
    assert api.put(f"{base}/tags/green", None) == (201, None)
    assert api.put(f"{base}/tags/green", None) == (201, None)    # idempotent
    assert api.get(f"{base}/tags")[1] == {"tags": ["blue", "green", "red"]}
    assert api.delete(f"{base}/tags/blue") == (204, None)
    status, body = api.delete(f"{base}/tags/blue")
    assert status == 404 and _error(body) == ("TagNotFound", "Tag blue could not be found.")
    assert api.put(f"{base}/tags", {"tags": ["only"]}) == (200, {"tags": ["only"]})
    assert api.get(base)[1][kind]["tags"] == ["only"]
    assert api.delete(f"{base}/tags") == (204, None)
    assert api.get(f"{base}/tags") == (200, {"tags": []})
    assert api.get(base)[1][kind]["tags"] == []


@pytest.mark.parametrize("collection,error", [
    ("networks", "NetworkNotFound"), ("subnets", "SubnetNotFound"), ("ports", "PortNotFound"),
    ("routers", "RouterNotFound"), ("floatingips", "FloatingIPNotFound"),
    ("security-groups", "SecurityGroupNotFound")])
def test_unknown_resource_is_that_resources_404(api, collection, error):
    missing = "00000000-0000-0000-0000-000000000000"
    base = f"/v2.0/{collection}/{missing}/tags"
    for method, path, body in (("GET", base, None), ("PUT", base, {"tags": ["a"]}),
                               ("DELETE", base, None), ("GET", f"{base}/a", None),
                               ("PUT", f"{base}/a", None), ("DELETE", f"{base}/a", None)):
        status, answer = api.request(method, path, body)
        assert status == 404 and answer["NeutronError"]["type"] == error, (method, path)


def test_tag_writes_revise_the_resource_only_when_the_tags_change(api):
    net = api.create("network", name="tag-revisions")
    base = f"/v2.0/networks/{net['id']}"
    assert net["revision_number"] == 1
    api.put(f"{base}/tags", {"tags": ["a"]})
    assert api.get(base)[1]["network"]["revision_number"] == 2
    api.put(f"{base}/tags/a", None)                    # already there: nothing written
    api.put(f"{base}/tags", {"tags": ["a"]})
    assert api.get(base)[1]["network"]["revision_number"] == 2
    api.put(f"{base}/tags/b", None)
    api.delete(f"{base}/tags/a")
    api.delete(f"{base}/tags")
    api.delete(f"{base}/tags")                          # no tags left: nothing written
    shown = api.get(base)[1]["network"]
    assert shown["revision_number"] == 5 and shown["updated_at"] >= net["updated_at"]


@pytest.mark.parametrize("body,message", [
    ({"tag": ["a"]}, "Invalid input for operation: Invalid tags body."),
    (["a"], "Invalid input for operation: Invalid tags body."),
    ({"tags": "a"}, "Invalid input for operation: 'a' is not a list."),
    ({"tags": ["a", 5]}, "Invalid input for operation: '5' is not a valid string."),
    ({"tags": [None]}, "Invalid input for operation: 'None' is not a valid string."),
    ({"tags": ["a", "b", "a"]}, "Invalid input for operation: Duplicate items in the list: 'a'."),
    ({"tags": ["a", "a", 1]}, "Invalid input for operation: Duplicate items in the list: 'a'."),
    ({"tags": ["x" * 256]},
     f"Invalid input for operation: '{'x' * 256}' exceeds maximum length of 255."),
])
def test_bad_tag_bodies_are_neutrons_400s(api, resources, body, message):
    base = f"/v2.0/networks/{resources['networks']['id']}/tags"
    status, answer = api.put(base, body)
    assert status == 400 and _error(answer) == ("InvalidInput", message)
    assert api.get(base)[1] == {"tags": []}


def test_tags_limits_and_the_characters_neutron_takes(api):
    net = api.create("network", name="tag-limits")
    base = f"/v2.0/networks/{net['id']}/tags"
    too_many = [f"t{i:02d}" for i in range(51)]
    status, body = api.put(base, {"tags": too_many})
    assert status == 400 and _error(body) == (
        "BadRequest", "Bad networks request: The number of tags exceed the per-resource "
                      "limit of 50.")
    assert api.put(base, {"tags": too_many[:50]}) == (200, {"tags": too_many[:50]})
    assert api.put(f"{base}/t00", None) == (201, None)      # already there: still 50
    status, body = api.put(f"{base}/t50", None)
    assert status == 400 and _error(body)[0] == "BadRequest"
    status, body = api.put(f"{base}/{'y' * 256}", None)
    assert status == 400 and _error(body) == (
        "InvalidInput", f"Invalid input for operation: '{'y' * 256}' exceeds maximum length "
                        "of 255.")
    status, body = api.get(f"{base}/{'y' * 256}")
    assert status == 400 and _error(body)[0] == "InvalidInput"
    # Neutron takes any string, commas, spaces and the empty string included
    odd = ["a,b", "with space", "", "x" * 255, "ünï"]
    assert api.put(base, {"tags": odd}) == (200, {"tags": odd})
    assert api.get(f"{base}/with%20space")[0] == 204
    assert api.get(f"{base}/%C3%BCn%C3%AF")[0] == 204
    assert sorted(api.get(base)[1]["tags"]) == sorted(odd)


def test_tags_paths_neutron_does_not_have(api, resources):
    base = f"/v2.0/networks/{resources['networks']['id']}/tags"
    status, body = api.post(base, {"tags": ["a"]})
    assert status == 405 and body["NeutronError"]["type"] == "HTTPMethodNotAllowed"
    rule = api.get("/v2.0/security-group-rules")[1]["security_group_rules"][0]
    assert api.get(f"/v2.0/security-group-rules/{rule['id']}/tags")[0] == 404
    assert api.get(f"/v2.0/networks/{resources['networks']['id']}/other/x")[0] == 404
    status, body = api.post("/v2.0/networks", {"network": {"name": "n", "tags": ["a"]}})
    assert status == 400      # tags are set through the tags sub-resource


def test_tag_filters_on_listings(api):
    nets = {name: api.create("network", name=f"tagf-{name}")
            for name in ("ab", "a", "bc", "none")}
    for name, tags in (("ab", ["a", "b"]), ("a", ["a"]), ("bc", ["b", "c"])):
        api.put(f"/v2.0/networks/{nets[name]['id']}/tags", {"tags": tags})

    def listed(query: str) -> set[str]:
        status, body = api.get(f"/v2.0/networks?{query}")
        assert status == 200, body
        return {n["name"][5:] for n in body["networks"] if n["name"].startswith("tagf-")}

    assert listed("tags=a") == {"ab", "a"}
    assert listed("tags=a,b") == {"ab"}
    assert listed("tags=a&tags=b") == {"ab"}             # repeated keys add to the set
    assert listed("tags-any=a,c") == {"ab", "a", "bc"}
    assert listed("not-tags=a,b") == {"a", "bc", "none"}
    assert listed("not-tags-any=a") == {"bc", "none"}
    assert listed("tags=b&not-tags=c") == {"ab"}
    assert listed("tags-any=a&name=tagf-a") == {"a"}       # with other filters
    assert listed("tags=nothing") == set()
    ports = api.get("/v2.0/ports?tags=nothing")
    assert ports == (200, {"ports": []})
    assert api.get("/v2.0/security-groups?not-tags-any=x")[0] == 200
    status, body = api.get("/v2.0/security-group-rules?tags=a")
    assert status == 400 and body["NeutronError"]["type"] == "HTTPBadRequest"


def test_extension_is_advertised(api):
    aliases = {ext["alias"] for ext in api.get("/v2.0/extensions")[1]["extensions"]}
    assert "standard-attr-tag" in aliases
    assert "tag-ports-during-bulk-creation" not in aliases


def test_tags_survive_kill_9():
    ctl = Controller().start()
    try:
        api = ctl.api
        net = api.create("network", name="durable-tags")
        port = api.create("port", network_id=net["id"])
        group = api.create("security_group", name="durable-tags")
        assert api.put(f"/v2.0/networks/{net['id']}/tags", {"tags": ["x", "y"]})[0] == 200
        assert api.put(f"/v2.0/ports/{port['id']}/tags/p", None)[0] == 201
        assert api.put(f"/v2.0/security-groups/{group['id']}/tags/g", None)[0] == 201
        assert api.delete(f"/v2.0/networks/{net['id']}/tags/y")[0] == 204
        before = api.get(f"/v2.0/networks/{net['id']}")[1]

        ctl.kill()
        ctl.start()

        assert api.get(f"/v2.0/networks/{net['id']}")[1] == before
        assert api.get(f"/v2.0/networks/{net['id']}/tags") == (200, {"tags": ["x"]})
        assert api.get(f"/v2.0/ports/{port['id']}")[1]["port"]["tags"] == ["p"]
        assert api.get(f"/v2.0/security-groups/{group['id']}/tags") == (200, {"tags": ["g"]})
        assert [n["id"] for n in api.get("/v2.0/networks?tags=x")[1]["networks"]] == [
            net["id"]]
    finally:
        ctl.kill()
        shutil.rmtree(ctl.workdir, ignore_errors=True)
