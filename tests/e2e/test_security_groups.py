"""Security groups end to end: the real controller, three netns hypervisors g0-g2 (g2 may
host SNAT), Mininet VMs.  Project "acme" has network 10.70.0.0/24 with VMs in its default
group on g0 and g1 (a0, a1), a VM in group "web" (only Neutron's egress rules) on g2 and
one in group "open" (every IPv4 packet in) on g2; a router joins 10.71.0.0/24 and has a
gateway on the external network."""
import contextlib
import time
from typing import Iterator

import pytest

from tests.e2e.dataplane import (Stream, Tenant, blocked, fetches, flows, ip_from, ofport, pings,
                                 sctp_received, silent, tag, tx_packets, wait_until)
from tests.emulation import onboarded_cloud, public_network, serving

INTERNET = "198.51.100.10"


@pytest.fixture(scope="module")
def cloud():
    yield from serving(onboarded_cloud(3, "g", 47, external=True, gateways=(2,)))


@pytest.fixture(scope="module")
def acme(cloud):
    tenant = Tenant(cloud.controller.api, cloud, "acme")
    api = tenant.api
    network, subnet = tenant.network("10.70.0.0/24")
    groups = {name: api.create("security_group", name=name, project_id="acme")
              for name in ("web", "open")}
    api.create("security_group_rule", security_group_id=groups["open"]["id"],
               direction="ingress", ethertype="IPv4", project_id="acme")
    vms = {"a0": tenant.vm(network, 0), "a1": tenant.vm(network, 1),
           "web": tenant.vm(network, 2, security_groups=[groups["web"]["id"]]),
           "open": tenant.vm(network, 2, security_groups=[groups["open"]["id"]])}
    default = api.get("/v2.0/security-groups?project_id=acme&name=default")[1][
        "security_groups"][0]
    groups["default"] = default
    tenant.network_, tenant.subnet_ = network, subnet
    yield tenant, groups, vms
    tenant.cleanup()


def rule(tenant: Tenant, group: dict, **fields) -> dict:
    fields.setdefault("direction", "ingress")
    return tenant.api.create("security_group_rule", security_group_id=group["id"],
                             ethertype="IPv4", project_id=tenant.project, **fields)


@contextlib.contextmanager
def rule_in_place(tenant: Tenant, group: dict, **fields) -> Iterator[dict]:
    """A rule for the length of a block: later tests find the group as it was."""
    made = rule(tenant, group, **fields)
    try:
        yield made
    finally:
        tenant.api.delete(f"/v2.0/security-group-rules/{made['id']}")


def cut(vm, address: str) -> None:
    """The VM's pings to the address stop being answered, soon after a rule went (the
    DELETE returns before the flows are on the switches)."""
    wait_until(lambda: silent(vm, address), timeout=5, what=f"{vm.ip} -> {address} cut")


def test_one_group_reaches_itself_across_hypervisors(acme):
    _, _, vms = acme
    assert pings(vms["a0"], vms["a1"].ip) and pings(vms["a1"], vms["a0"].ip)
    # what ip_from counts, so that its zeros below mean something
    assert ip_from(vms["a0"], vms["a1"].ip, lambda: pings(vms["a1"], vms["a0"].ip)) >= 1
    assert fetches(vms["a0"], vms["a1"])


def test_another_group_cannot_connect_but_its_own_connections_work(acme):
    _, _, vms = acme
    a0, web = vms["a0"], vms["web"]
    web.host.cmd(f"ping -c1 -W1 {a0.ip}")   # its ARP is answered: only IP is filtered
    outcomes = []
    received = ip_from(a0, web.ip, lambda: outcomes.extend(
        [silent(web, a0.ip), blocked(web, a0, 8080)]))
    assert outcomes == [True, True] and received == 0, "a0 got what its group keeps out"
    # web's own connections, and their replies, pass: "open" lets anything in
    assert pings(web, vms["open"].ip) and fetches(web, vms["open"])
    assert silent(vms["open"], web.ip)   # but nothing opens one to web


def test_a_port_rule_opens_that_port_only_and_an_icmp_rule_ping(acme):
    tenant, groups, vms = acme
    a0, web = vms["a0"], vms["web"]
    with rule_in_place(tenant, groups["default"], protocol="tcp", port_range_min=22,
                       port_range_max=22, remote_ip_prefix="0.0.0.0/0"):
        assert fetches(web, a0, port=22) and blocked(web, a0, 80)
        assert silent(web, a0.ip)
        icmp = rule(tenant, groups["default"], protocol="icmp")
        assert pings(web, a0.ip)
        tenant.api.delete(f"/v2.0/security-group-rules/{icmp['id']}")
        cut(web, a0.ip)
    assert blocked(web, a0, 22)


def test_an_sctp_port_rule_opens_that_port_only(acme):
    tenant, groups, vms = acme
    a0, web = vms["a0"], vms["web"]
    with rule_in_place(tenant, groups["default"], protocol="sctp", port_range_min=5000,
                       port_range_max=5000, remote_ip_prefix="0.0.0.0/0"):
        wait_until(lambda: any("sctp," in line and "tp_dst=5000" in line
                               for line in flows(a0.hypervisor, "br-int")),
                   timeout=5, what="the sctp rule on a0's switch")
        assert sctp_received(web, a0, 5001) == 0
        assert sctp_received(web, a0, 5000) == 5


def test_a_protocol_0_rule_by_name_leaves_the_groups_other_rules_working(acme):
    """A rule for 'hopopt' once made its group's flows fail to compute, so a rule added
    after it never reached the switches."""
    tenant, groups, vms = acme
    a0, web = vms["a0"], vms["web"]
    with rule_in_place(tenant, groups["default"], protocol="hopopt"), \
            rule_in_place(tenant, groups["default"], protocol="tcp", port_range_min=2222,
                          port_range_max=2222, remote_ip_prefix="0.0.0.0/0"):
        assert fetches(web, a0, port=2222)
        assert silent(web, a0.ip)                       # protocol 0 is not ICMP
    assert blocked(web, a0, 2222)


def test_a_remote_group_rule_follows_membership(acme):
    tenant, groups, vms = acme
    a1, web = vms["a1"], vms["web"]
    from_default = rule(tenant, groups["web"], protocol="icmp",
                        remote_group_id=groups["default"]["id"])
    try:
        assert pings(a1, web.ip)
        assert silent(vms["open"], web.ip)   # not a member
        put = {"port": {"security_groups": [groups["open"]["id"]]}}
        assert tenant.api.put(f"/v2.0/ports/{a1.port_id}", put)[0] == 200
        cut(a1, web.ip)                      # left the group
        put = {"port": {"security_groups": [groups["default"]["id"], groups["open"]["id"]]}}
        assert tenant.api.put(f"/v2.0/ports/{vms['open'].port_id}", put)[0] == 200
        assert pings(vms["open"], web.ip)    # joined it
    finally:
        tenant.api.put(f"/v2.0/ports/{a1.port_id}",
                       {"port": {"security_groups": [groups["default"]["id"]]}})
        tenant.api.put(f"/v2.0/ports/{vms['open'].port_id}",
                       {"port": {"security_groups": [groups["open"]["id"]]}})
        tenant.api.delete(f"/v2.0/security-group-rules/{from_default['id']}")


def test_deleting_a_rule_stops_the_connection_it_allowed(acme):
    tenant, groups, vms = acme
    a0, web = vms["a0"], vms["web"]
    allowed = rule(tenant, groups["default"], protocol="tcp", port_range_min=9000,
                   port_range_max=9000)
    stream = Stream(a0, web)
    cut = time.time()
    assert tenant.api.delete(f"/v2.0/security-group-rules/{allowed['id']}")[0] == 204
    time.sleep(1.5)
    received = stream.stop()
    assert received and received[0] < cut, "the connection never carried data"
    assert max(received) < cut + 0.5, f"data {max(received) - cut:.2f} s after the rule went"


def test_without_port_security_nothing_is_filtered(acme):
    tenant, _, vms = acme
    bare = tenant.vm(tenant.network_, 1, port_security_enabled=False)
    try:
        assert pings(vms["web"], bare.ip) and fetches(vms["web"], bare)
    finally:
        tenant.cloud.destroy(bare)


def test_an_allowed_address_pair_passes_and_other_addresses_do_not(acme):
    tenant, _, vms = acme
    a0 = vms["a0"]
    paired = tenant.vm(tenant.network_, 1,
                       allowed_address_pairs=[{"ip_address": "10.70.0.200"}])
    try:
        for address in ("10.70.0.200", "10.70.0.201"):
            paired.host.cmd(f"ip addr add {address}/24 dev {paired.host.defaultIntf()}")
        assert pings(a0, "10.70.0.200")      # a0 is a member of the default group too
        assert " 0% packet loss" in paired.host.cmd(f"ping -c1 -W1 -I 10.70.0.200 {a0.ip}")
        replies = []
        received = ip_from(a0, "10.70.0.201", lambda: replies.append(
            paired.host.cmd(f"ping -c2 -W1 -I 10.70.0.201 {a0.ip}")))
        assert "100% packet loss" in replies[0] and received == 0, "a spoofed source " \
            "reached a0"
        assert silent(a0, "10.70.0.201")
    finally:
        tenant.cloud.destroy(paired)


@pytest.fixture(scope="module")
def routed(cloud, acme):
    """A router between acme's two networks, with a gateway on "public"; on 10.71.0.0/24
    a default-group VM (r) and a "web" one (w)."""
    tenant, groups, _ = acme
    api = cloud.controller.api
    public, _ = public_network(api)
    network, subnet = tenant.network("10.71.0.0/24")
    router = tenant.api.create("router", name="acme-router", project_id="acme")
    for routed_subnet in (tenant.subnet_, subnet):
        assert tenant.api.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                              {"subnet_id": routed_subnet["id"]})[0] == 200
    assert tenant.api.put(f"/v2.0/routers/{router['id']}", {"router": {
        "external_gateway_info": {"network_id": public["id"]}}})[0] == 200
    r = tenant.vm(network, 1)
    w = tenant.vm(network, 0, security_groups=[groups["web"]["id"]])
    return public, r, w


def test_a_member_with_an_any_address_pair_reaches_its_group_from_any_address(acme):
    """A NAT VM in the default group sends from an address that is none of its own: its
    0.0.0.0/0 pair makes it a member by its MAC (table 82 matches dl_src), so a0's "from
    the group" rule lets it in, as in Neutron."""
    tenant, _, vms = acme
    a0 = vms["a0"]
    nat_vm = tenant.vm(tenant.network_, 1, allowed_address_pairs=[{"ip_address": "0.0.0.0/0"}])
    try:
        nat_vm.host.cmd(f"ip addr add 192.168.77.7/32 dev {nat_vm.host.defaultIntf()}")
        wait_until(lambda: any(f"dl_src={nat_vm.mac}" in line
                               for line in flows(a0.hypervisor, "br-int", 82)),
                   what="the NAT VM a member by its MAC on a0's hypervisor")
        assert ip_from(a0, "192.168.77.7", lambda: nat_vm.host.cmd(
            f"ping -c2 -W1 -I 192.168.77.7 {a0.ip}")) >= 1
    finally:
        tenant.cloud.destroy(nat_vm)


def test_routed_traffic_is_filtered_by_the_destination_group(acme, routed):
    _, _, vms = acme
    _, r, w = routed
    assert pings(vms["a0"], r.ip) and fetches(vms["a0"], r)   # default to default
    outcome = []
    assert ip_from(w, vms["a0"].ip, lambda: outcome.append(silent(vms["a0"], w.ip))) == 0
    assert outcome == [True]
    assert pings(w, vms["open"].ip)   # its own connection, into "open", routed, and back


def test_a_floating_ip_is_filtered_by_its_port_group(cloud, acme, routed):
    tenant, groups, _ = acme
    public, r, _ = routed
    fip = tenant.api.create("floatingip", floating_network_id=public["id"], port_id=r.port_id,
                            project_id="acme")
    internet = cloud.upstream.internet
    address = fip["floating_ip_address"]
    try:
        wait_until(lambda: tenant.api.get(f"/v2.0/floatingips/{fip['id']}")[1][
            "floatingip"]["status"] == "ACTIVE", timeout=15, what="floating IP ACTIVE")
        assert pings(r, INTERNET, attempts=10)   # out, and the replies back in
        assert silent(internet, address)         # in: the default group says no
        icmp = rule(tenant, groups["default"], protocol="icmp",
                    remote_ip_prefix="198.51.100.0/24")
        assert pings(internet, address)
        tenant.api.delete(f"/v2.0/security-group-rules/{icmp['id']}")
        cut(internet, address)
    finally:
        tenant.api.delete(f"/v2.0/floatingips/{fip['id']}")


def test_snat_replies_come_back_to_a_vm_without_ingress_rules(acme, routed):
    _, _, w = routed
    assert pings(w, INTERNET, attempts=10)
    out = w.host.cmd(f"traceroute -n -q 1 -w 1 -m 3 {INTERNET}")   # related ICMP errors
    assert INTERNET in out, out


def test_remote_groups_are_conjunctions_on_the_switch(acme):
    _, _, vms = acme
    dump = vms["a0"].hypervisor.ofctl("dump-flows", "br-int", "table=82")
    assert "conjunction(" in dump and "conj_id=" in dump, dump


def test_a_stateless_group_passes_only_what_its_rules_allow_both_ways(acme):
    """A VM in a stateless group (``stateful`` false) on g0: a TCP connection it opens
    to "open" gets no answer until a rule lets TCP in (no conntrack to recognise the
    reply), and its flows on g0 send nothing through conntrack; a0 on the same
    hypervisor pings it once ICMP may come in, its echo replies back to a0 as replies."""
    tenant, groups, vms = acme
    a0, server = vms["a0"], vms["open"]
    loose = tenant.api.create("security_group", name="loose", project_id="acme",
                              stateful=False)
    assert loose["stateful"] is False
    vm = tenant.vm(tenant.network_, 0, security_groups=[loose["id"]])
    assert blocked(vm, server, 8080), "a reply passed a stateless port without a rule"
    assert silent(a0, vm.ip)
    rule(tenant, loose, protocol="tcp")
    rule(tenant, loose, protocol="icmp")
    assert fetches(vm, server)
    assert pings(a0, vm.ip)   # a0's default group lets in only its members: a reply
    here = f"reg5=0x{ofport(vm.hypervisor, vm.device):x}"
    own = [line for table in (71, 81) for line in flows(vm.hypervisor, "br-int", table)
           if here in line and "ip" in line]
    assert own and not [line for line in own if "ct(" in line], own


def answered_time_exceeded(vm, address: str, attempts: int = 3) -> bool:
    """True once a ping with TTL 1 to a routed address gets the gateway's time exceeded."""
    return any("Time to live exceeded" in vm.host.cmd(f"ping -c1 -t1 -W1 {address}")
               for _ in range(attempts))


def test_a_stateless_port_gets_its_routers_answers_through_its_ingress_rules(acme, routed):
    """The router's echo reply from the gateway and the time exceeded for a routed ping
    with TTL 1 reach a VM in a stateless group only where its ingress rules let them in,
    as any packet for it: neither without an ICMP rule, both with one from the gateway;
    a VM without port security gets both anyway."""
    tenant, _, _ = acme
    _, r, _ = routed
    gateway = tenant.subnet_["gateway_ip"]
    strict = tenant.api.create("security_group", name="strict", project_id="acme",
                               stateful=False)
    vm = tenant.vm(tenant.network_, 0, security_groups=[strict["id"]])
    bare = tenant.vm(tenant.network_, 0, port_security_enabled=False)
    try:
        assert silent(vm, gateway) and not answered_time_exceeded(vm, r.ip, attempts=1)
        rule(tenant, strict, protocol="icmp", remote_ip_prefix=f"{gateway}/32")
        assert pings(vm, gateway) and answered_time_exceeded(vm, r.ip)
        assert pings(bare, gateway) and answered_time_exceeded(bare, r.ip)
    finally:
        tenant.cloud.destroy(bare)


def test_a_mac_two_vms_pairs_name_reaches_both_through_their_filters(acme):
    """Two VMs on g1 whose address pairs name one VRRP virtual MAC, both in the default
    group (which lets its members in): a0's frames to that MAC reach each of them, and
    those of "web" (no member) neither, so each got them through its own ingress filter,
    from one flow that hands the frame to both."""
    tenant, _, vms = acme
    vmac, vip = "00:00:5e:00:01:09", "10.70.0.250"
    pair = [{"ip_address": vip, "mac_address": vmac}]
    claimants = [tenant.vm(tenant.network_, 1, allowed_address_pairs=pair) for _ in range(2)]

    def received(sender, count: int) -> list[int]:
        """Frames each claimant got while ``sender`` sent ``count`` to the MAC."""
        sender.host.cmd(f"ip neigh replace {vip} lladdr {vmac} dev eth0 nud permanent")
        before = [tx_packets(vm.hypervisor, "br-int", vm.device) for vm in claimants]
        sender.host.cmd(f"ping -c{count} -i0.2 -W1 {vip}")
        sender.host.cmd(f"ip neigh del {vip} dev eth0")
        return [tx_packets(vm.hypervisor, "br-int", vm.device) - earlier
                for vm, earlier in zip(claimants, before, strict=True)]

    try:
        received(vms["a0"], 1)   # warm-up: the first frame to the MAC was seen uncounted
        member = received(vms["a0"], 5)
        assert all(got >= 5 for got in member), member
        stranger = received(vms["web"], 10)
        assert all(got < 5 for got in stranger), stranger
    finally:
        for vm in claimants:
            tenant.cloud.destroy(vm)


def test_a_deleted_ports_connections_leave_its_zone_and_the_others_stay(acme):
    """Conntrack keeps a zone's entries after the port's flows are gone; the controller
    flushes its address's (NXT_CT_FLUSH), not its neighbours'.  ICMP entries live 30 s
    in the userspace datapath, so without the flush they would outlast the wait."""
    tenant, _, vms = acme
    a0, a1 = vms["a0"], vms["a1"]
    leaver = tenant.vm(tenant.network_, 0)
    zone = tag(a0)   # a network's zone on a hypervisor is its local VLAN

    def tracked(address: str) -> bool:
        entries = a0.hypervisor.appctl("dpctl/dump-conntrack", f"zone={zone}")
        return f"src={address}," in entries

    assert pings(leaver, a1.ip) and pings(a0, a1.ip)
    assert tracked(leaver.ip) and tracked(a0.ip)
    assert tenant.api.delete(f"/v2.0/ports/{leaver.port_id}")[0] == 204
    tenant.vms.remove(leaver)
    tenant.cloud.destroy(leaver)
    wait_until(lambda: not tracked(leaver.ip), timeout=5, what="the port's connections gone")
    assert tracked(a0.ip)
