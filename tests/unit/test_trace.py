"""``trace`` and the flows view: a VM's packet explained table by table, and a bridge's
desired flows with their table names and provenance."""
import pytest

from ryu_app import views
from ryu_app.model.errors import BadRequest, Conflict, NotFound
from tests.unit.fake_cloud import FakeCloud
from tests.unit.test_l2_behaviour import ip


@pytest.fixture
def cloud(tmp_path):
    """red (two VMs, n0 and n1) and blue (one VM on n1, same CIDR) in one cloud, and a
    routed green network behind red's router."""
    cloud = FakeCloud(tmp_path)
    cloud.red, red_subnet = cloud.network()
    cloud.blue, _ = cloud.network()
    green, green_subnet = cloud.network("10.1.0.0/24")
    cloud.router(red_subnet, green_subnet)
    cloud.a = cloud.vm(cloud.red, "n0", name="vm-a0")
    cloud.b = cloud.vm(cloud.red, "n1", name="vm-a1")
    cloud.c = cloud.vm(cloud.blue, "n1", name="vm-b1", fixed_ips=[{"ip_address": "10.0.0.77"}])
    cloud.g = cloud.vm(green, "n2", name="vm-g2")
    return cloud


def tables_hit(answer: dict) -> list[tuple[str, str, int]]:
    return [(step["hypervisor"], step["bridge"], step["table"]) for step in answer["steps"]]


def delivered(answer: dict) -> list[tuple[str, str]]:
    return [(o["hypervisor"], o["port"]) for o in answer["outcomes"] if o["kind"] == "delivered"]


def test_an_arp_is_answered_by_the_senders_own_tunnel_bridge(cloud):
    answer = cloud.trace(port="vm-a0", dst=ip(cloud.b), proto="arp")
    assert delivered(answer) == [("n0", cloud.a["device"])]
    responder = [step for step in answer["steps"] if step["table"] == 21]
    assert [(s["table_name"], s["band"], s["builder"]) for s in responder] == [
        ("ARP responder", "answers", "br_tun.arp_responder_flow")]
    assert "vm-a1" in responder[0]["group"] and "on n1" in responder[0]["group"]
    assert {step["hypervisor"] for step in answer["steps"]} == {"n0"}
    reply = answer["outcomes"][0]["packet"]
    assert (reply["arp_op"], reply["arp_sha"]) == (2, cloud.b["mac_address"])
    assert "table 21 ARP responder" in answer["text"] and "vm-a1" in answer["text"]


def test_a_unicast_is_traced_across_the_tunnel_to_its_vm(cloud):
    answer = cloud.trace(port=cloud.a["id"], dst=ip(cloud.b), proto="tcp", dport="22")
    assert delivered(answer) == [("n1", cloud.b["device"])]
    assert ("n0", "br-tun", 20) in tables_hit(answer) and ("n1", "br-tun", 4) in tables_hit(
        answer)
    assert answer["packet"]["tcp_dst"] == 22
    assert "l2population" in [step["band"] for step in answer["steps"]]


def test_an_sctp_packet_carries_its_destination_port(cloud):
    answer = cloud.trace(port=cloud.a["id"], dst=ip(cloud.b), proto="sctp", dport="5000")
    assert delivered(answer) == [("n1", cloud.b["device"])]
    assert (answer["packet"]["ip_proto"], answer["packet"]["sctp_dst"]) == (132, 5000)
    assert "sctp_dst=5000" in answer["text"]


def test_a_routed_packet_shows_the_route_and_its_reason(cloud):
    answer = cloud.trace(port="vm-a0", dst=ip(cloud.g))
    assert delivered(answer) == [("n2", cloud.g["device"])]
    route = next(step for step in answer["steps"] if step["band"] == "routes")
    assert (route["hypervisor"], route["table"], route["builder"]) == (
        "n0", 60, "br_int.route_flow")
    assert "TTL - 1" in route["why"]
    assert answer["outcomes"][0]["packet"]["nw_ttl"] == 63


def test_another_tenants_address_is_never_reached(cloud):
    answer = cloud.trace(port="vm-a0", dst="10.0.0.77", proto="arp")   # only blue has it
    assert (cloud.c["chassis"], cloud.c["device"]) not in delivered(answer)
    assert delivered(answer) == [("n1", cloud.b["device"])]   # flooded in red only
    with pytest.raises(NotFound, match="No port holds 10.0.0.77"):
        cloud.trace(port="vm-a0", dst="10.0.0.77")


@pytest.mark.parametrize("params, error", [
    ({"dst": "10.0.0.3"}, BadRequest), ({"port": "nope", "dst": "10.0.0.3"}, NotFound),
    ({"port": "vm-a0", "dst": "10.0.0"}, BadRequest),
    ({"port": "vm-a0", "dst": "10.0.0.3", "proto": "gre"}, BadRequest),
    ({"port": "vm-a0", "dst": "10.0.0.3", "dport": "70000"}, BadRequest),
    ({"port": "vm-a0", "dst": "10.0.0.3", "proto": "tcp", "dport": "\u00b2"}, BadRequest),
    # beyond what Python turns into an int at all (4300 digits)
    ({"port": "vm-a0", "dst": "10.0.0.3", "proto": "tcp", "dport": "9" * 5000}, BadRequest),
    ({"port": "vm-a0", "dst": "10.0.0.3", "proto": "tcp", "dport": "0" * 5000 + "22"},
     BadRequest)])
def test_bad_trace_requests_are_client_errors(cloud, params, error):
    with pytest.raises(error):
        cloud.trace(**params)


def test_an_unplugged_port_cannot_be_traced(cloud):
    port = cloud.create("port", network_id=cloud.red["id"], name="idle")
    with pytest.raises(Conflict):
        cloud.trace(port=port["id"], dst="10.0.0.3")


def test_the_flows_of_a_bridge_name_their_table_band_builder_and_group(cloud):
    listed = views.flows(cloud.planner, {"host": "n0", "bridge": "tun"})
    answers = [entry for entry in listed if entry["table"] == 21 and entry["band"] == "answers"]
    assert {entry["table_name"] for entry in answers} == {"ARP responder"}
    assert any("vm-a1" in entry["group"] and "arp_tpa=" + ip(cloud.b) in entry["flow"]
               for entry in answers)
    assert all(entry["builder"] for entry in listed)
    assert [entry["table"] for entry in listed] == sorted(entry["table"] for entry in listed)
    assert views.flows(cloud.planner, {"host": "n0", "bridge": "br-tun"}) == listed
    with pytest.raises(BadRequest):
        views.flows(cloud.planner, {"host": "n0"})
    with pytest.raises(NotFound):
        views.flows(cloud.planner, {"host": "n9", "bridge": "int"})


def test_a_dhcp_discover_is_traced_to_the_controller_of_its_own_hypervisor(cloud):
    answer = cloud.trace(port="vm-a0", proto="dhcp")
    assert [(o["kind"], o["hypervisor"], o["table"]) for o in answer["outcomes"]] == [
        ("controller", "n0", 77)]
    intercepted = answer["steps"][0]
    assert (intercepted["table"], intercepted["band"], intercepted["builder"]) == (
        0, "DHCP", "br_int.dhcp_request_flow")
    assert {step["hypervisor"] for step in answer["steps"]} == {"n0"}
    assert "table 77 DHCP" in answer["text"]
