"""The L2 data plane end to end: real ryu-manager, three emulated hypervisors (each its
own Open vSwitch), Mininet hosts as VMs, real packets."""
import re

from ryu.lib.packet import arp, ethernet, icmp, ipv4, packet, vlan

from tests.e2e.dataplane import (capture, fetches, flows, heard_in, ip_from, n_packets, ofport,
                                 pings, settle_counters, silent, spray, tag, tunnel_ports,
                                 tx_packets, wait_until)
from ryu_app.pipeline.tables import DEAD_VLAN
from ryu_app.reconciler import LEARNED
from topology.naming import tunnel_port_name


def tunnel_tx(hypervisor) -> int:
    settle_counters(hypervisor)
    return sum(tx_packets(hypervisor, "br-tun", port) for port in tunnel_ports(hypervisor))


def vm_rx(vm) -> int:
    """Frames the integration bridge delivered to a VM."""
    return tx_packets(vm.hypervisor, "br-int", vm.device)


def test_two_tenants_with_the_same_cidr_reach_only_their_own_vms(cloud, tenants):
    red, blue = tenants("red"), tenants("blue")
    red_net, _ = red.network("10.0.0.0/24")
    blue_net, _ = blue.network("10.0.0.0/24")
    reds = [red.vm(red_net, chassis) for chassis in range(3)]
    blues = [blue.vm(blue_net, chassis) for chassis in range(3)]
    assert [vm.ip for vm in reds] == [vm.ip for vm in blues]  # the same addresses

    before = [vm_rx(vm) for vm in blues]
    for source in reds:
        for target in reds:
            if target is not source:
                assert pings(source, target.ip), f"{source.ip} -> {target.ip} on red"
    assert fetches(reds[0], reds[2]), "TCP across chassis"
    assert [vm_rx(vm) for vm in blues] == before, "a red frame reached a blue VM"
    for source, target in ((blues[0], blues[1]), (blues[2], blues[0])):
        assert pings(source, target.ip)
    vnis = {net["provider:segmentation_id"] for net in (red_net, blue_net)}
    assert len(vnis) == 2


def tagged_ping(source, destination, source_ip: str, *vids: int) -> bytes:
    """An ICMP echo request to ``destination``'s MAC and address, in 802.1Q tags of
    these VLAN ids, the outer first."""
    frame = packet.Packet()
    frame.add_protocol(ethernet.ethernet(dst=destination.mac, src=source.mac, ethertype=0x8100))
    for index, vid in enumerate(vids):
        inner = 0x8100 if index + 1 < len(vids) else 0x0800
        frame.add_protocol(vlan.vlan(vid=vid, ethertype=inner))
    frame.add_protocol(ipv4.ipv4(src=source_ip, dst=destination.ip, proto=1))
    frame.add_protocol(icmp.icmp(data=icmp.echo(id_=7, seq=1, data=b"hop")))
    frame.serialize()
    return bytes(frame.data)


def test_a_vm_cannot_hop_into_another_network_with_an_8021q_tag(cloud, tenants):
    """A frame tagged with the victim network's local VLAN, sent to the victim's MAC from
    a member address of its group, by a VM of another tenant on the same hypervisor."""
    hopped, hopper = tenants("hopped"), tenants("hopper")
    blue_net, _ = hopped.network("10.13.0.0/24")
    victim, peer = hopped.vm(blue_net, 0), hopped.vm(blue_net, 1)
    red_net, _ = hopper.network("10.14.0.0/24")
    attacker = hopper.vm(red_net, 0, port_security_enabled=False)
    assert ip_from(victim, peer.ip, lambda: pings(peer, victim.ip)) >= 1  # counting works
    frame = tagged_ping(attacker, victim, peer.ip, tag(victim))
    assert ip_from(victim, peer.ip, lambda: spray(attacker, frame, 1.0, 0.1).communicate()) == 0
    drop = [line for line in flows(attacker.hypervisor, "br-int", 0)
            if f"in_port={ofport(attacker.hypervisor, attacker.device)}," in line
            and "vlan_tci=0x1000/0x1000" in line]
    assert len(drop) == 1 and n_packets(drop[0]) >= 5, drop
    # a priority tag (VLAN id 0) is no VLAN: it reaches the attacker's own network's VMs
    red_peer = hopper.vm(red_net, 1, port_security_enabled=False)   # no group judges
    priority_tagged = tagged_ping(attacker, red_peer, attacker.ip, 0)
    assert ip_from(red_peer, attacker.ip,
                   lambda: spray(attacker, priority_tagged, 1.0, 0.1).communicate()) >= 5


def test_a_network_leaving_a_hypervisor_leaves_nothing_learned_or_tracked_in_its_vlan(
        cloud, tenants):
    """The local VLAN may go to the next network there at once: a MAC br-tun learned in
    it would send that network's unicast down the old one's tunnel for 300 s."""
    tenant = tenants("leaving")
    network, _ = tenant.network("10.15.0.0/24")
    a, b = tenant.vm(network, 0), tenant.vm(network, 1)
    assert pings(a, b.ip)
    here, lvid = a.hypervisor, tag(a)

    def learned() -> list[str]:
        return [line for line in flows(here, "br-tun", 20)
                if f"dl_dst={b.mac}" in line and "hard_timeout=300" in line]

    def tracked() -> str:
        return here.appctl("dpctl/dump-conntrack", f"zone={lvid}")

    assert learned() and f"src={a.ip}" in tracked()      # what the switch remembers
    cloud.unplug(a)
    wait_until(lambda: not learned() and f"src={a.ip}" not in tracked(),
               what="the VLAN's learned MACs and connections forgotten")


def test_a_gre_network_spans_the_chassis(cloud, tenants):
    tenant = tenants("gre")
    network, _ = tenant.network("10.1.0.0/24", network_type="gre")
    vms = [tenant.vm(network, chassis) for chassis in range(3)]
    assert pings(vms[0], vms[1].ip) and pings(vms[1], vms[2].ip) and pings(vms[2], vms[0].ip)
    key = network["provider:segmentation_id"]
    settle_counters(cloud.hypervisors[0])
    table3 = flows(cloud.hypervisors[0], "br-tun", 3)
    assert any(f"tun_id={key:#x}" in line and n_packets(line) > 0 for line in table3)


def test_a_vlan_provider_network_carries_its_vlan_on_the_wire_only(cloud, tenants):
    tenant = tenants("provider")
    filler, _ = tenant.network("10.2.9.0/24")
    tenant.vm(filler, 0)  # e0 then has a local VLAN taken: its ids differ from e1's
    network, _ = tenant.network("10.2.0.0/24", network_type="vlan",
                                physical_network="physnet1", segmentation_id=100)
    a, b = tenant.vm(network, 0), tenant.vm(network, 1)
    local = {tag(a), tag(b)}
    assert 100 not in local and len(local) == 2, local
    wire = capture(f"sw-{a.hypervisor.name}", 1.0, lambda: pings(a, b.ip))
    assert wire and all("vlan 100" in line for line in wire), wire
    assert pings(b, a.ip)


def test_a_flat_network_is_untagged_on_the_wire(cloud, tenants):
    tenant = tenants("flat")
    network, _ = tenant.network("10.3.0.0/24", network_type="flat",
                                physical_network="physnet1")
    a, b = tenant.vm(network, 1), tenant.vm(network, 2)
    wire = capture(f"sw-{b.hypervisor.name}", 1.0, lambda: pings(a, b.ip))
    assert wire and not any("vlan" in line for line in wire), wire
    assert all("ethertype IPv4" in line for line in wire)


def test_a_priority_tag_around_a_vlan_tag_does_not_hop_from_a_flat_network(cloud, tenants):
    """The priority tag is popped as no VLAN; the tag inside it must not then reach the
    physical network untouched, where it is another tenant's VLAN network.  (Open
    vSwitch parses one tag by default, vlan-limit 1: after the pop, NORMAL sees a
    "partial VLAN tag" and drops the frame.)"""
    hopped, hopper = tenants("vlanhopped"), tenants("vlanhopper")
    victim_net, _ = hopped.network("10.17.0.0/24", network_type="vlan",
                                   physical_network="physnet1", segmentation_id=222)
    victim, peer = hopped.vm(victim_net, 1), hopped.vm(victim_net, 2)
    flat = hopper.api.get("/v2.0/networks?provider:network_type=flat"
                          "&provider:physical_network=physnet1")[1]["networks"]
    flat_net = flat[0] if flat else hopper.network("10.18.0.0/24", network_type="flat",
                                                   physical_network="physnet1")[0]
    attacker = hopper.vm(flat_net, 0, port_security_enabled=False)
    assert ip_from(victim, peer.ip, lambda: pings(peer, victim.ip)) >= 1  # counting works
    frame = tagged_ping(attacker, victim, peer.ip, 0, 222)   # a priority tag around 222
    assert ip_from(victim, peer.ip, lambda: spray(attacker, frame, 1.0, 0.1).communicate()) == 0


def test_arp_for_a_remote_vm_is_answered_on_the_local_chassis(cloud, tenants):
    tenant = tenants("arp")
    network, _ = tenant.network("10.4.0.0/24")
    a, b = tenant.vm(network, 0), tenant.vm(network, 1)
    sent_before = tunnel_tx(a.hypervisor)
    reply = a.host.cmd(f"arping -c 3 -w 3 -I eth0 {b.ip}")
    assert "3 packets received" in reply and b.mac in reply, reply
    assert tunnel_tx(a.hypervisor) == sent_before, "an ARP frame left through a tunnel"
    responder = [line for line in flows(a.hypervisor, "br-tun", 21) if f"arp_tpa={b.ip}" in line]
    assert len(responder) == 1 and n_packets(responder[0]) >= 3


def test_a_remote_mac_is_learned_for_300_seconds(cloud, tenants):
    tenant = tenants("learn")
    network, _ = tenant.network("10.5.0.0/24")
    a, b = tenant.vm(network, 0), tenant.vm(network, 1)
    assert pings(b, a.ip)
    lvid = tag(a)
    learned = [line for line in flows(a.hypervisor, "br-tun", 20)
               if "hard_timeout=300" in line and f"dl_dst={b.mac}" in line]
    assert len(learned) == 1, flows(a.hypervisor, "br-tun", 20)
    tunnel = ofport(a.hypervisor, tunnel_port_name("vxlan", b.hypervisor.tunnel_ip))
    vni = network["provider:segmentation_id"]
    assert re.search(rf"priority=1,vlan_tci=0x0*{lvid:x}/0x0fff,dl_dst={b.mac} "
                     rf"actions=load:0->NXM_OF_VLAN_TCI\[\],load:{vni:#x}->NXM_NX_TUN_ID\[\],"
                     rf"output:{tunnel}$", learned[0]), learned[0]


def network_flows(hypervisor, vni: int) -> list[str]:
    """A tunnel bridge's flows that match or set the network's VNI."""
    return [line for line in flows(hypervisor, "br-tun")
            if f"tun_id={vni:#x}" in line or f"{vni:#x}->tun_id" in line]


def test_l2population_follows_the_first_and_last_port_of_a_chassis(cloud, tenants):
    tenant = tenants("l2pop")
    network, _ = tenant.network("10.6.0.0/24")
    vni = network["provider:segmentation_id"]
    e0, e1, e2 = cloud.hypervisors
    vxlan_to = {h.name: tunnel_port_name("vxlan", h.tunnel_ip) for h in (e1, e2)}
    a, b = tenant.vm(network, 0), tenant.vm(network, 1)
    assert network_flows(e2, vni) == []
    assert vxlan_to["e2"] not in tunnel_ports(e0)     # e0 and e2 share no network
    flood = lambda: [line for line in network_flows(e0, vni)  # noqa: E731
                     if "table=22" in line]
    to_e1 = ofport(e0, vxlan_to["e1"])
    assert flood()[0].endswith(f"output:{to_e1}")

    settle_counters(e0)
    sent_to_e1 = tx_packets(e0, "br-tun", vxlan_to["e1"])
    a.host.cmd("arping -c 2 -w 2 -I eth0 10.6.0.250")  # nobody: flooded, to e1 only
    settle_counters(e0)
    assert tx_packets(e0, "br-tun", vxlan_to["e1"]) > sent_to_e1
    assert vxlan_to["e2"] not in tunnel_ports(e0)

    c = tenant.vm(network, 2)
    wait_until(lambda: vxlan_to["e2"] in tunnel_ports(e0), what="a tunnel from e0 to e2")
    to_e2 = ofport(e0, vxlan_to["e2"])
    wait_until(lambda: f"output:{to_e2}" in flood()[0], what="e2 in e0's flood list")
    assert pings(c, a.ip) and pings(c, b.ip)
    cloud.destroy(c)
    tenant.vms.remove(c)
    wait_until(lambda: f"output:{to_e2}" not in flood()[0], what="e2 out of the flood list")
    wait_until(lambda: network_flows(e2, vni) == [], what="e2 forgets the net")


def announcement(vm, sender_mac: str) -> bytes:
    """A gratuitous ARP from the VM's MAC that puts its own address at ``sender_mac``."""
    frame = packet.Packet()
    frame.add_protocol(ethernet.ethernet(dst="ff:ff:ff:ff:ff:ff", src=vm.mac, ethertype=0x0806))
    frame.add_protocol(arp.arp(opcode=arp.ARP_REQUEST, src_mac=sender_mac, src_ip=vm.ip,
                               dst_mac="00:00:00:00:00:00", dst_ip=vm.ip))
    frame.serialize()
    return bytes(frame.data)


def test_spoofed_arp_and_foreign_source_macs_are_dropped(cloud, tenants):
    tenant = tenants("spoof")
    network, _ = tenant.network("10.7.0.0/24")
    a, b = tenant.vm(network, 0), tenant.vm(network, 0)
    assert pings(a, b.ip)
    honest = a.host.cmd(f"arping -c 1 -w 2 -I eth0 {b.ip}")
    assert "1 packets received" in honest, honest
    announced = lambda sender: heard_in(b, f"arp and ether src {a.mac}", lambda: spray(  # noqa: E731
        a, announcement(a, sender), 1.0, 0.1).communicate())
    assert len(announced(a.mac)) >= 5
    assert announced(b.mac) == [], "a's address announced at b's MAC reached b"
    a.host.cmd("ip addr add 10.7.0.99/24 dev eth0")
    spoofed = a.host.cmd(f"arping -c 2 -w 2 -S 10.7.0.99 -I eth0 {b.ip}")
    assert "2 packets transmitted, 0 packets received" in spoofed, spoofed

    received = vm_rx(b)
    a.host.cmd("ip neigh flush all; ip link set eth0 address 02:00:00:00:07:99")
    assert silent(a, b.ip)
    assert vm_rx(b) == received, "a frame with a foreign source MAC was delivered"
    a.host.cmd(f"ip link set eth0 address {a.mac}")
    assert pings(a, b.ip)


def test_without_port_security_a_port_gets_no_anti_spoofing(cloud, tenants):
    tenant = tenants("open")
    network, _ = tenant.network("10.8.0.0/24")
    a = tenant.vm(network, 0, port_security_enabled=False)
    b = tenant.vm(network, 0)
    # a is in no group (no port security): b's lets its pings in
    default = tenant.api.get("/v2.0/security-groups?project_id=open&name=default")[1][
        "security_groups"][0]
    tenant.api.create("security_group_rule", security_group_id=default["id"],
                      direction="ingress", ethertype="IPv4", protocol="icmp",
                      project_id="open")
    in_port = lambda vm: f"in_port={ofport(vm.hypervisor, vm.device)}"  # noqa: E731
    checks = lambda vm: [line for line in flows(vm.hypervisor, "br-int")  # noqa: E731
                         if in_port(vm) in line and ("table=24" in line or "table=25" in line
                                                     or "goto_table:2" in line)]
    assert checks(a) == [] and checks(b)
    assert [line for line in flows(b.hypervisor, "br-int", 25) if in_port(b) in line]
    a.host.cmd("ip link set eth0 address 02:00:00:00:08:99")
    assert pings(a, b.ip)


def test_unplugging_a_vm_removes_its_flows_everywhere_and_replugging_restores(cloud, tenants):
    tenant = tenants("plug")
    network, _ = tenant.network("10.9.0.0/24")
    a, b = tenant.vm(network, 0), tenant.vm(network, 1)
    assert pings(a, b.ip)
    port_flows = lambda: (  # noqa: E731
        [line for line in flows(a.hypervisor, "br-tun") if b.mac in line or b.ip + " " in line
         or f"arp_tpa={b.ip}" in line and "priority=1" in line]
        + [line for line in flows(b.hypervisor, "br-int") if f"in_port={b_port}," in line
           or line.endswith(f"in_port={b_port} actions=goto_table:25")])
    b_port = ofport(b.hypervisor, b.device)
    assert port_flows()
    cloud.unplug(b)
    wait_until(lambda: not [line for line in port_flows() if "hard_timeout" not in line],
               what="b's flows gone")
    assert tenant.api.get(f"/v2.0/ports/{b.port_id}")[1]["port"]["status"] == "DOWN"
    assert silent(a, b.ip)
    cloud.plug(b)
    tenant.wait_wired(b)
    assert pings(a, b.ip)


def test_a_disabled_port_is_cut_off_in_the_dead_vlan_and_enabling_it_restores(cloud, tenants):
    tenant = tenants("disable")
    network, _ = tenant.network("10.11.0.0/24")
    a, b = tenant.vm(network, 0), tenant.vm(network, 1)
    assert pings(a, b.ip)
    down = {"port": {"admin_state_up": False}}
    assert tenant.api.put(f"/v2.0/ports/{b.port_id}", down)[1]["port"]["status"] == "DOWN"
    wait_until(lambda: tag(b) == DEAD_VLAN, what="b's device in the dead VLAN")
    assert silent(a, b.ip) and silent(b, a.ip)
    assert tenant.api.put(f"/v2.0/ports/{b.port_id}", {"port": {"admin_state_up": True}})[0] == 200
    tenant.wait_wired(b)
    assert tenant.api.get(f"/v2.0/ports/{b.port_id}")[1]["port"]["status"] == "ACTIVE"
    assert pings(a, b.ip) and pings(b, a.ip)


def cookies(hypervisor, bridge: str) -> set[int]:
    """The connections whose flows the bridge holds: the controller's cookies, learned
    flows counted under the cookie they were learned with."""
    return {int(re.search(r"cookie=(0x[0-9a-f]+)", line).group(1), 16) & ~LEARNED
            for line in flows(hypervisor, bridge)}


def test_a_controller_restart_keeps_traffic_tags_and_sweeps_old_flows(cloud, tenants):
    tenant = tenants("restart")
    network, _ = tenant.network("10.10.0.0/24")
    a, b = tenant.vm(network, 0), tenant.vm(network, 2)
    assert pings(a, b.ip)
    bridges = [(h, name) for h in cloud.hypervisors for name in ("br-int", "br-tun", "br-eth1")]
    old = {bridge: cookies(*bridge) for bridge in bridges}
    assert all(len(found) == 1 for found in old.values()), old
    tags = (tag(a), tag(b))
    a.host.cmd(f"ping -q -i 0.05 -c 100 {b.ip} > /tmp/restart-ping.txt 2>&1 &")

    cloud.controller.kill()
    cloud.controller.start()
    wait_until(lambda: all(cookies(*bridge) and not cookies(*bridge) & old[bridge]
                           for bridge in bridges), timeout=30, what="old cookies swept")
    assert all(len(cookies(*bridge)) == 1 for bridge in bridges)
    a.host.cmd("wait")
    summary = a.host.cmd("cat /tmp/restart-ping.txt")
    assert " 0% packet loss" in summary, summary
    assert (tag(a), tag(b)) == tags
    assert pings(a, b.ip)
