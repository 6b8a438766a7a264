"""``DELETE /v2.0/agents/{id}`` retires a hypervisor that is gone, against the real
controller and two registered hypervisors (lone ovsdb-servers): refused while its OVSDB
session is up, done once it is down, durable across kill -9, and no ban (the same
hypervisor pointed at the controller again registers afresh).  What the retirement does
to flows, ports and SNAT is walked offline in tests/unit/test_retired_hypervisor.py."""
import shutil

import pytest

from tests.harness import Controller
from tests.hypervisors.ovsdb_server import registered as hypervisors

HOSTS = ("kept", "retired")


def hosts(ctl) -> list[str]:
    return sorted(agent["host"] for agent in ctl.api.get("/v2.0/agents")[1]["agents"])


@pytest.fixture(scope="module")
def registered():
    ctl = Controller().start()
    with hypervisors(ctl.ovsdb_port, {host: [] for host in HOSTS}) as databases:
        ctl.wait_for(lambda: hosts(ctl) == list(HOSTS), timeout=20)
        ctl.databases = databases
        yield ctl
    ctl.kill()
    shutil.rmtree(ctl.workdir, ignore_errors=True)


def agent_of(ctl, host: str) -> dict:
    return ctl.api.get(f"/v2.0/agents?host={host}")[1]["agents"][0]


def test_a_connected_agent_is_not_deleted_and_a_gone_one_is_retired_for_good(registered):
    api = registered.api
    retired = agent_of(registered, "retired")
    path = f"/v2.0/agents/{retired['id']}"
    status, body = api.delete(path)
    assert status == 409 and body["NeutronError"]["type"] == "AgentInUse", body
    assert hosts(registered) == list(HOSTS)

    registered.databases["retired"].vsctl("del-manager")
    registered.wait_for(lambda: not agent_of(registered, "retired")["configurations"][
        "ovsdb_connected"], timeout=20)
    registered.openstack("network", "agent", "delete", retired["id"], parse=False)
    assert hosts(registered) == ["kept"]
    status, body = api.get(path)
    assert status == 404 and body["NeutronError"]["type"] == "AgentNotFound"
    assert api.delete(path)[0] == 404

    registered.kill()
    registered.start()
    registered.wait_for(lambda: hosts(registered) == ["kept"], timeout=20)
    assert api.get(path)[0] == 404

    registered.databases["retired"].vsctl("set-manager",
                                          f"tcp:127.0.0.1:{registered.ovsdb_port}")
    registered.wait_for(lambda: hosts(registered) == list(HOSTS), timeout=20)
    assert agent_of(registered, "retired")["configurations"]["ovsdb_connected"] is True
