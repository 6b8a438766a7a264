"""GET /v2.0/agents filters on any of an agent's fields, as Neutron's does: a registered
hypervisor whose switch never connects (a lone ovsdb-server) is listed, not alive."""
import shutil

import pytest

from tests.harness import Controller
from tests.hypervisors.ovsdb_server import registered as hypervisors


@pytest.fixture(scope="module")
def registered():
    ctl = Controller().start()
    with hypervisors(ctl.ovsdb_port, {"lonely": []}):
        ctl.wait_for(lambda: ctl.api.get("/v2.0/agents")[1]["agents"], timeout=20)
        yield ctl
    ctl.kill()
    shutil.rmtree(ctl.workdir, ignore_errors=True)


@pytest.mark.parametrize("query, hosts", [
    ("", ["lonely"]),
    ("?agent_type=Open%20vSwitch%20agent", ["lonely"]),
    ("?agent_type=DHCP%20agent", []),
    ("?alive=false", ["lonely"]),
    ("?alive=true", []),
    ("?host=lonely&binary=neutron-openvswitch-agent", ["lonely"]),
    ("?host=elsewhere", []),
])
def test_agents_are_filtered_by_their_fields(registered, query, hosts):
    status, body = registered.api.get(f"/v2.0/agents{query}")
    assert status == 200 and [agent["host"] for agent in body["agents"]] == hosts, body


def test_an_unknown_agent_filter_is_a_400(registered):
    status, body = registered.api.get("/v2.0/agents?colour=red")
    assert status == 400 and body["NeutronError"]["type"] == "HTTPBadRequest"
