"""A stored write is answered as stored even when what follows it fails: a hypervisor
whose 4094 local VLANs are all taken cannot serve one more network, and the router
interface that asks it to is still stored and answered with a 200.

The hypervisor is a lone ovsdb-server: its database is real, and the test writes into it
what a switch would (datapath id, OpenFlow port numbers) for 4094 VM devices."""
import shutil
import tempfile
import threading
from pathlib import Path

from ryu_app.ovsdb.protocol import named, ovs_map, ovs_set, transact_request, transaction_error
from tests.harness import Api, Controller
from tests.hypervisors.ovsdb_server import Database

VLANS = 4094


def create_networks_with_ports(port: int, count: int) -> list[dict]:
    """``count`` networks with one port each, created by four clients at once."""
    ports: list[dict] = []

    def work(share: int) -> None:
        api = Api(port)
        for _ in range(share):
            network = api.create("network")
            ports.append(api.create("port", network_id=network["id"]))
        api.close()
    threads = [threading.Thread(target=work, args=(count // 4 + (i < count % 4),))
               for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return ports


def plug(database: Database, ports: list[dict]) -> None:
    """One device per port on br-int, numbered as a switch would number them, in one
    transaction (ovs-vsctl takes minutes over thousands)."""
    operations = []
    for number, port in enumerate(ports, start=1):
        operations += [
            {"op": "insert", "table": "Interface", "uuid-name": f"i{number}",
             "row": {"name": f"vnet{number}", "ofport": number,
                     "external_ids": ovs_map({"iface-id": port["id"]})}},
            {"op": "insert", "table": "Port", "uuid-name": f"p{number}",
             "row": {"name": f"vnet{number}", "interfaces": named(f"i{number}")}}]
    operations.append({"op": "mutate", "table": "Bridge", "where": [["name", "==", "br-int"]],
                       "mutations": [["ports", "insert", ovs_set(
                           [named(f"p{number}") for number in range(1, len(ports) + 1)])]]})
    reply = database.call(transact_request(9, operations))
    assert transaction_error(reply["result"]) is None


def test_a_listener_failing_after_the_commit_still_answers_the_write_as_stored():
    # 4094 networks with ports: far beyond Neutron's default quotas
    ctl = Controller(extra={"neutron": {"vni_ranges": "1:16000000"}, "quotas": {
        "quota_network": "-1", "quota_subnet": "-1", "quota_port": "-1"}}).start()
    directory = Path(tempfile.mkdtemp(prefix="neutron-ryu-full-"))
    database = Database(directory)
    try:
        database.vsctl("set", "open", ".", "external_ids:system-id=full",
                       "external_ids:neutron-tunnel-ip=10.9.9.10")
        database.vsctl("set-manager", f"tcp:127.0.0.1:{ctl.ovsdb_port}")
        ctl.wait_for(lambda: "br-int" in database.vsctl("list-br").split(), timeout=20)
        database.vsctl("set", "bridge", "br-int", "datapath_id=00000000000000aa")
        ports = create_networks_with_ports(ctl.api_port, VLANS)
        plug(database, ports)
        ctl.wait_for(lambda: all(p["status"] == "ACTIVE" for p in ctl.api.get(
            "/v2.0/ports?fields=status")[1]["ports"]), timeout=120, interval=0.5)
        hosted = ports[0]["network_id"]
        other = ctl.api.create("network")["id"]
        subnets = [ctl.api.create("subnet", network_id=network, ip_version=4,
                                  cidr=f"10.{octet}.0.0/24")
                   for octet, network in ((90, hosted), (91, other))]
        router = ctl.api.create("router", name="one-too-many")
        for subnet in subnets:   # the second makes "full" serve `other`: no VLAN left
            status, body = ctl.api.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                                       {"subnet_id": subnet["id"]})
            assert status == 200, body
        assert len(ctl.api.get(f"/v2.0/ports?device_id={router['id']}")[1]["ports"]) == 2
        ctl.wait_for(lambda: "has no free local VLAN id" in ctl.log())   # after the answer
    finally:
        database.stop()
        ctl.kill()
        shutil.rmtree(directory, ignore_errors=True)
        shutil.rmtree(ctl.workdir, ignore_errors=True)
