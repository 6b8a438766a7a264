"""GET /v2.0/agents filters on an agent's fields, as Neutron's does, and sorts and pages
on them as the resources are (Neutron's lists agents whole): a registered hypervisor
whose switch never connects (a lone ovsdb-server) is listed, not alive."""
import shutil

import pytest

from tests.harness import Controller
from tests.hypervisors.ovsdb_server import registered as hypervisors


@pytest.fixture(scope="module")
def registered():
    ctl = Controller().start()
    with hypervisors(ctl.ovsdb_port, {"lonely": [], "quiet": []}):
        ctl.wait_for(lambda: len(ctl.api.get("/v2.0/agents")[1]["agents"]) == 2, timeout=20)
        yield ctl
    ctl.kill()
    shutil.rmtree(ctl.workdir, ignore_errors=True)


@pytest.mark.parametrize("query, hosts", [
    ("?sort_key=host&sort_dir=asc", ["lonely", "quiet"]),
    ("?agent_type=Open%20vSwitch%20agent&sort_key=host&sort_dir=desc", ["quiet", "lonely"]),
    ("?agent_type=DHCP%20agent", []),
    ("?alive=false&sort_key=host&sort_dir=asc", ["lonely", "quiet"]),
    ("?alive=true", []),
    ("?host=lonely&binary=neutron-openvswitch-agent", ["lonely"]),
    ("?host=elsewhere", []),
])
def test_agents_are_filtered_by_their_fields(registered, query, hosts):
    status, body = registered.api.get(f"/v2.0/agents{query}")
    assert status == 200 and [agent["host"] for agent in body["agents"]] == hosts, body


def test_agents_are_paged_by_limit_and_marker(registered):
    status, first = registered.api.get("/v2.0/agents?sort_key=host&sort_dir=desc&limit=1")
    assert status == 200 and [agent["host"] for agent in first["agents"]] == ["quiet"]
    following = "/v2.0" + first["agents_links"][0]["href"].split("/v2.0", 1)[1]
    status, second = registered.api.get(following)
    assert status == 200 and [agent["host"] for agent in second["agents"]] == ["lonely"]
    assert [link["rel"] for link in second["agents_links"]] == ["previous"]
    # a marker the filter leaves out still says where the page starts; an unknown one is
    # the agent's 404
    quiet = first["agents"][0]["id"]
    status, after = registered.api.get(f"/v2.0/agents?sort_key=host&sort_dir=desc&limit=1"
                                       f"&host=lonely&marker={quiet}")
    assert status == 200 and [agent["host"] for agent in after["agents"]] == ["lonely"], after
    status, body = registered.api.get("/v2.0/agents?limit=1&marker=no-such-agent")
    assert status == 404 and body["NeutronError"]["type"] == "AgentNotFound", body


@pytest.mark.parametrize("listing, query", [
    *(("agents", query) for query in (
        "limit=many", "limit=-1", "sort_key=colour&sort_dir=asc",
        "sort_key=host", "sort_key=host&sort_dir=sideways")),
    ("availability_zones", "sort_key=host&sort_dir=asc"),
    ("availability_zones", "sort_key=name"),
])
def test_a_bad_listing_parameter_is_a_400(registered, listing, query):
    status, body = registered.api.get(f"/v2.0/{listing}?{query}")
    assert status == 400 and body["NeutronError"]["type"] == "HTTPBadRequest", body


def test_zones_have_no_id_to_page_by_so_they_are_listed_whole(registered):
    status, whole = registered.api.get("/v2.0/availability_zones?sort_key=resource&sort_dir=asc")
    assert status == 200 and [z["resource"] for z in whole["availability_zones"]] == [
        "network", "router"], whole
    assert registered.api.get("/v2.0/availability_zones?sort_key=resource&sort_dir=asc"
                              "&limit=1") == (200, whole)


def test_an_agent_lists_the_routers_it_runs_and_nothing_else(registered):
    agent_id = registered.api.get("/v2.0/agents?host=lonely")[1]["agents"][0]["id"]
    assert registered.api.get(f"/v2.0/agents/{agent_id}/l3-routers") == (200, {"routers": []})
    assert registered.api.post(f"/v2.0/agents/{agent_id}/l3-routers", {})[0] == 405
    assert registered.api.post(f"/v2.0/agents/{agent_id}", {})[0] == 405
    status, body = registered.api.get(f"/v2.0/agents/{agent_id}/dhcp-networks")
    assert status == 404 and body["NeutronError"]["type"] == "HTTPNotFound", body


def test_an_unknown_agent_filter_is_a_400(registered):
    status, body = registered.api.get("/v2.0/agents?colour=red")
    assert status == 400 and body["NeutronError"]["type"] == "HTTPBadRequest"


def test_an_agent_shows_the_fields_asked_for(registered):
    agent_id = registered.api.get("/v2.0/agents?host=quiet")[1]["agents"][0]["id"]
    assert registered.api.get(f"/v2.0/agents/{agent_id}?fields=host&fields=alive") == (
        200, {"agent": {"host": "quiet", "alive": False}})
