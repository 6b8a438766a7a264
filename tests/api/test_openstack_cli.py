"""The standard `openstack` client, in no-auth mode, drives the controller."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

OPENSTACK = str(Path(sys.executable).with_name("openstack"))


@pytest.fixture
def cli(controller):
    def run(*args: str, parse: bool = True):
        command = [OPENSTACK, "--os-auth-type", "none", "--os-endpoint",
                   f"http://127.0.0.1:{controller.api_port}/", *args]
        if parse:
            command += ["-f", "json"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if parse else done.stdout
    return run


def test_network_subnet_port_router_lifecycle(cli, api):
    net = cli("network", "create", "cli-net", "--provider-network-type", "vlan",
              "--provider-physical-network", "physnet1", "--provider-segment", "123")
    assert net["provider:segmentation_id"] == 123 and net["name"] == "cli-net"
    subnet = cli("subnet", "create", "cli-sub", "--network", "cli-net",
                 "--subnet-range", "10.80.0.0/24")
    assert subnet["gateway_ip"] == "10.80.0.1"
    port = cli("port", "create", "cli-port", "--network", "cli-net",
               "--fixed-ip", "subnet=cli-sub,ip-address=10.80.0.42")
    assert port["fixed_ips"][0]["ip_address"] == "10.80.0.42"
    router = cli("router", "create", "cli-router")
    cli("router", "add", "subnet", "cli-router", "cli-sub", parse=False)
    interfaces = api.get(f"/v2.0/ports?device_id={router['id']}")[1]["ports"]
    assert [p["fixed_ips"][0]["ip_address"] for p in interfaces] == ["10.80.0.1"]

    assert {n["Name"] for n in cli("network", "list")} >= {"cli-net"}
    assert cli("port", "show", "cli-port")["mac_address"] == port["mac_address"]
    listed = cli("port", "list", "--network", "cli-net")
    dhcp = cli("port", "list", "--network", "cli-net", "--device-owner", "network:dhcp")
    assert len(dhcp) == 1 and dhcp[0]["Fixed IP Addresses"]   # the subnet's DHCP server
    assert {p["ID"] for p in listed} == {port["id"], interfaces[0]["id"], dhcp[0]["ID"]}
    cli("port", "set", "--extra-dhcp-option", "name=tftp-server,value=10.80.0.9",
        "cli-port", parse=False)
    assert api.get(f"/v2.0/ports/{port['id']}")[1]["port"]["extra_dhcp_opts"] == [
        {"opt_name": "tftp-server", "opt_value": "10.80.0.9", "ip_version": 4}]

    cli("network", "set", "--name", "cli-net-2", "cli-net", parse=False)
    cli("port", "set", "--name", "cli-port-2", "cli-port", parse=False)
    cli("subnet", "set", "--dns-nameserver", "10.80.0.53", "cli-sub", parse=False)
    cli("router", "set", "--name", "cli-router-2", "cli-router", parse=False)
    assert api.get(f"/v2.0/networks/{net['id']}")[1]["network"]["name"] == "cli-net-2"
    assert api.get(f"/v2.0/subnets/{subnet['id']}")[1]["subnet"]["dns_nameservers"] == [
        "10.80.0.53"]

    cli("router", "remove", "subnet", "cli-router-2", "cli-sub", parse=False)
    cli("router", "delete", "cli-router-2", parse=False)
    cli("port", "delete", "cli-port-2", parse=False)
    cli("subnet", "delete", "cli-sub", parse=False)
    cli("network", "delete", "cli-net-2", parse=False)
    for kind, resource in (("networks", net), ("subnets", subnet), ("ports", port),
                           ("routers", router)):
        assert api.get(f"/v2.0/{kind}/{resource['id']}")[0] == 404

