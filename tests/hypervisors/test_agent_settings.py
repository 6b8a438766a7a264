"""What an operator sets on an agent (``PUT /v2.0/agents/{id}``) and the availability
zones hypervisors name: Neutron's API and the openstack client, against two registered
hypervisors whose switches never connect (lone ovsdb-servers)."""
import shutil

import pytest

from tests.harness import Controller
from tests.hypervisors.ovsdb_server import registered as hypervisors

HOSTS = {"north": "az-north", "south": None}   # south names no zone: Neutron's nova


@pytest.fixture(scope="module")
def registered():
    ctl = Controller().start()
    zones = {host: [f"neutron-availability-zone={zone}"] if zone else []
             for host, zone in HOSTS.items()}
    with hypervisors(ctl.ovsdb_port, zones):
        ctl.wait_for(lambda: len(ctl.api.get("/v2.0/agents")[1]["agents"]) == 2, timeout=20)
        yield ctl
    ctl.kill()
    shutil.rmtree(ctl.workdir, ignore_errors=True)


def agent(ctl, host: str) -> dict:
    return ctl.api.get(f"/v2.0/agents?host={host}")[1]["agents"][0]


def test_each_hypervisor_reports_its_zone_and_the_zones_are_listed(registered):
    assert agent(registered, "north")["availability_zone"] == "az-north"
    assert agent(registered, "south")["availability_zone"] == "nova"
    assert registered.api.get("/v2.0/availability_zones") == (200, {"availability_zones": [
        {"name": zone, "resource": resource, "state": "available"}
        for zone in ("az-north", "nova") for resource in ("network", "router")]})
    routers = registered.api.get("/v2.0/availability_zones?resource=router&name=nova")[1]
    assert routers == {"availability_zones": [
        {"name": "nova", "resource": "router", "state": "available"}]}
    listed = registered.openstack("availability", "zone", "list", "--network")
    assert sorted((row["Zone Name"], row["Zone Status"]) for row in listed) == [
        ("az-north", "available"), ("az-north", "available"),
        ("nova", "available"), ("nova", "available")]


def test_zone_hints_are_accepted_for_known_zones_only(registered):
    api = registered.api
    network = api.create("network", name="hinted", availability_zone_hints=["az-north"])
    assert network["availability_zone_hints"] == ["az-north"]
    assert network["availability_zones"] == []   # no VM of it anywhere yet
    router = api.create("router", name="hinted", availability_zone_hints=["nova", "az-north"])
    assert router["availability_zone_hints"] == ["nova", "az-north"]
    status, body = api.post("/v2.0/networks", {"network": {
        "availability_zone_hints": ["az-west"]}})
    assert status == 404 and body["NeutronError"]["type"] == "AvailabilityZoneNotFound"
    status, body = api.put(f"/v2.0/networks/{network['id']}", {"network": {
        "availability_zone_hints": ["nova"]}})
    assert status == 400   # hints are given once, at create, as in Neutron


def test_an_agent_update_is_the_operators_two_fields_only(registered):
    api = registered.api
    north = agent(registered, "north")
    path = f"/v2.0/agents/{north['id']}"
    status, body = api.put(path, {"agent": {"admin_state_up": False,
                                            "description": "maintenance window"}})
    assert status == 200
    assert {**north, "admin_state_up": False, "description": "maintenance window"} == {
        **body["agent"], "alive": north["alive"]}
    assert api.get(path)[1]["agent"]["admin_state_up"] is False
    assert [a["host"] for a in api.get("/v2.0/agents?admin_state_up=false")[1]["agents"]] == [
        "north"]
    for bad in ({"host": "elsewhere"}, {"alive": True}, {"admin_state_up": "perhaps"},
                {"colour": "red"}, {"description": "x" * 256}):
        assert api.put(path, {"agent": bad})[0] == 400, bad
    assert api.put(path, {"nothing": {}})[0] == 400
    status, body = api.put(f"/v2.0/agents/{'0' * 8}-0000-0000-0000-{'0' * 12}",
                           {"agent": {"admin_state_up": False}})
    assert status == 404 and body["NeutronError"]["type"] == "AgentNotFound"
    assert api.post("/v2.0/agents", {"agent": {}})[0] == 405
    # a zone whose only agent is disabled offers nothing new
    zones = api.get("/v2.0/availability_zones?name=az-north")[1]["availability_zones"]
    assert {zone["state"] for zone in zones} == {"unavailable"}
    assert api.put(path, {"agent": {"admin_state_up": True}})[1]["agent"]["description"] == (
        "maintenance window")


def test_network_agent_set_disable_through_the_client_and_it_survives_kill_9(registered):
    south = agent(registered, "south")
    registered.openstack("network", "agent", "set", "--disable", "--description", "drained",
                         south["id"], parse=False)
    shown = registered.openstack("network", "agent", "show", south["id"])
    assert (shown["admin_state_up"], shown["description"]) == (False, "drained")
    registered.kill()
    registered.start()
    registered.wait_for(lambda: len(registered.api.get("/v2.0/agents")[1]["agents"]) == 2,
                        timeout=20)
    after = agent(registered, "south")
    assert (after["admin_state_up"], after["description"]) == (False, "drained")
    registered.openstack("network", "agent", "set", "--enable", south["id"], parse=False)
    assert agent(registered, "south")["admin_state_up"] is True
