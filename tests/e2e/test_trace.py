"""``trace`` and ``GET /v2.0/flows`` against the real controller and real switches: what
trace predicts for an ARP, a same-network unicast, a routed packet and a cross-tenant
packet is what the data plane does, and the desired flows are what the switches hold."""
import re
import subprocess
import sys

import pytest

from tests.e2e.dataplane import Tenant, flows, pings, tx_packets
from tests.harness import ROOT


@pytest.fixture(scope="module")
def traced(cloud):
    """red (VXLAN) with VMs on e0 and e1, green (VXLAN) behind red's router with a VM on
    e2, and blue (same CIDR as red) with a VM on e1 holding an address red does not use."""
    tenant = Tenant(cloud.controller.api, cloud, "traced")
    red, red_subnet = tenant.network("10.30.0.0/24")
    green, green_subnet = tenant.network("10.31.0.0/24")
    router = tenant.api.create("router", name="r", project_id="traced")
    for subnet in (red_subnet, green_subnet):
        status, _ = tenant.api.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                                   {"subnet_id": subnet["id"]})
        assert status == 200
    blue_tenant = Tenant(cloud.controller.api, cloud, "traced-blue")
    blue, _ = blue_tenant.network("10.30.0.0/24")
    vms = {"red0": tenant.vm(red, 0, gateway="10.30.0.1", name="red0"),
           "red1": tenant.vm(red, 1, gateway="10.30.0.1", name="red1"),
           "green2": tenant.vm(green, 2, gateway="10.31.0.1", name="green2"),
           "blue1": blue_tenant.vm(blue, 1, fixed_ips=[{"ip_address": "10.30.0.200"}])}
    yield cloud.controller.api, vms
    tenant.cleanup()
    blue_tenant.cleanup()


def trace(api, port: str, dst: str, **params) -> dict:
    query = "&".join(f"{key}={value}" for key, value in {"port": port, "dst": dst,
                                                           **params}.items())
    status, body = api.get(f"/v2.0/trace?{query}")
    assert status == 200, body
    return body["trace"]


def delivered(answer: dict) -> list[tuple[str, str]]:
    return [(o["hypervisor"], o["port"]) for o in answer["outcomes"] if o["kind"] == "delivered"]


def test_arp_for_a_remote_vm_is_answered_on_its_senders_hypervisor(traced):
    api, vms = traced
    answer = trace(api, "red0", vms["red1"].ip, proto="arp")
    assert delivered(answer) == [("e0", vms["red0"].device)]
    assert any(step["table"] == 21 and step["table_name"] == "ARP responder" and
               "red1" in step["group"] for step in answer["steps"])
    assert {step["hypervisor"] for step in answer["steps"]} == {"e0"}
    reply = vms["red0"].host.cmd(f"arping -c 1 -w 2 -I eth0 {vms['red1'].ip}")
    assert "1 packets received" in reply and vms["red1"].mac in reply, reply


def test_a_unicast_is_traced_to_the_vm_that_receives_it(traced):
    api, vms = traced
    answer = trace(api, vms["red0"].port_id, vms["red1"].ip)
    assert delivered(answer) == [("e1", vms["red1"].device)]
    assert ("e1", "br-tun", 4) in [(s["hypervisor"], s["bridge"], s["table"])
                                   for s in answer["steps"]]
    assert pings(vms["red0"], vms["red1"].ip)


def test_a_routed_packet_is_traced_through_the_route_on_its_source(traced):
    api, vms = traced
    answer = trace(api, "red0", vms["green2"].ip)
    assert delivered(answer) == [("e2", vms["green2"].device)]
    route = [s for s in answer["steps"] if s["band"] == "routes"]
    assert [(s["hypervisor"], s["table"], s["builder"]) for s in route] == [
        ("e0", 60, "br_int.route_flow")]
    assert pings(vms["red0"], vms["green2"].ip)


def test_another_tenants_vm_is_reached_neither_in_the_trace_nor_on_the_wire(traced):
    api, vms = traced
    blue = vms["blue1"]
    answer = trace(api, "red0", blue.ip, proto="arp")
    assert ("e1", blue.device) not in delivered(answer)
    before = tx_packets(blue.hypervisor, "br-int", blue.device)
    vms["red0"].host.cmd(f"arping -c 2 -w 2 -I eth0 {blue.ip}")
    assert tx_packets(blue.hypervisor, "br-int", blue.device) == before
    status, body = api.get(f"/v2.0/trace?port=red0&dst={blue.ip}")   # no red port has it
    assert status == 404 and "proto=arp" in body["NeutronError"]["message"]


def test_the_cli_prints_the_trace_with_table_names(traced, cloud):
    _, vms = traced
    out = subprocess.run(
        [sys.executable, "-m", "ryu_app.cli", "--api",
         f"http://127.0.0.1:{cloud.controller.api_port}", "trace", "red0", vms["red1"].ip,
         "--proto", "arp"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "table 21 ARP responder" in out and "delivered to" in out
    refused = subprocess.run(
        [sys.executable, "-m", "ryu_app.cli", "--api",
         f"http://127.0.0.1:{cloud.controller.api_port}", "trace", "nope", "10.30.0.3"],
        cwd=ROOT, capture_output=True, text=True)
    assert refused.returncode == 1 and refused.stderr.strip() == (
        "404: Port nope could not be found.")


def test_the_desired_flows_of_a_bridge_are_what_it_holds(traced, cloud):
    api, _ = traced
    for bridge in ("int", "tun"):
        status, body = api.get(f"/v2.0/flows?host=e0&bridge={bridge}")
        assert status == 200
        desired = sorted((entry["table"], entry["priority"]) for entry in body["flows"])
        held = sorted((int(re.search(r"table=(\d+)", line).group(1)),
                       int(re.search(r"priority=(\d+)", line).group(1)))
                      for line in flows(cloud.hypervisors[0], f"br-{bridge}")
                      if "hard_timeout" not in line.split("actions=")[0])   # not learned
        assert desired == held
        assert all(entry["table_name"] and entry["builder"] and entry["group"]
                   for entry in body["flows"])
    status, body = api.get("/v2.0/flows?host=e0")
    assert status == 400 and body["NeutronError"]["type"] == "HTTPBadRequest"
