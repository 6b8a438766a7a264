"""A hypervisor's daemons restart or its management link is cut: flows, tags and tunnels
come back, nothing is duplicated, the agent says when it is gone, and the controller is
consistent with it again when it returns."""
import os
import re
import signal
import time

import pytest

from tests.e2e.dataplane import flows, pings, tag, tunnel_ports, wait_until
from tests.emulation import agents, onboarded_cloud, serving
from topology.naming import tunnel_port_name

PROBE = 1.0   # ovsdb_probe_interval: a silent session is closed after twice that


@pytest.fixture(scope="module")
def fabric():
    yield from serving(onboarded_cloud(3, "f", 33,
                                       extra={"neutron": {"ovsdb_probe_interval": PROBE}}))


def ping_loss_during(vm, target: str, action) -> tuple[int, int]:
    """(sent, lost) of a 10-per-second ping from ``vm`` kept up while ``action`` runs."""
    vm.host.cmd(f"ping -q -i 0.1 -w 8 {target} > /tmp/fault-ping.txt 2>&1 &")
    time.sleep(1)
    action()
    vm.host.cmd("wait")
    summary = vm.host.cmd("cat /tmp/fault-ping.txt")
    sent, received = map(int, re.search(r"(\d+) packets transmitted, (\d+) received",
                                        summary).groups())
    return sent, sent - received


def structure(hypervisor) -> dict[str, list[str]]:
    return {bridge: sorted(hypervisor.vsctl("list-ports", bridge).split())
            for bridge in sorted(hypervisor.vsctl("list-br").split())}


def test_a_restarted_vswitchd_gets_flows_tags_and_tunnels_back_within_2_seconds(
        fabric, tenant):
    network, _ = tenant.network("10.40.0.0/24")
    a, b = tenant.vm(network, 0), tenant.vm(network, 1)
    assert pings(a, b.ip)
    f1 = b.hypervisor
    before = structure(f1), tag(b)
    sent, lost = ping_loss_during(a, b.ip, f1.restart_vswitchd)
    assert lost <= 20, f"{lost} of {sent} pings lost: more than 2 s without traffic"
    assert (structure(f1), tag(b)) == before
    assert tunnel_port_name("vxlan", a.hypervisor.tunnel_ip) in tunnel_ports(f1)
    assert [line for line in flows(f1, "br-tun", 22) if "output:" in line]   # flood list


def test_a_restarted_ovsdb_server_reconnects_and_nothing_is_duplicated(fabric, tenant):
    network, _ = tenant.network("10.41.0.0/24")
    a, b = tenant.vm(network, 0), tenant.vm(network, 1)
    f1 = b.hypervisor
    before = structure(f1)
    ctl = fabric.controller
    sessions = ctl.log().count("hypervisor f1 (tunnel IP")
    f1.restart_ovsdb()
    wait_until(lambda: ctl.log().count("hypervisor f1 (tunnel IP") > sessions, timeout=20,
               what="a new OVSDB session from f1")
    wait_until(lambda: agents(ctl)["f1"]["alive"], what="f1 alive again")
    time.sleep(1)   # what the controller would (wrongly) add would be there by now
    assert structure(f1) == before
    controllers = f1.vsctl("--columns=_uuid", "list", "controller").split()
    assert len([word for word in controllers if re.fullmatch(r"[0-9a-f-]{36}", word)]) == 3
    assert pings(a, b.ip)


def test_a_cut_off_hypervisor_is_not_alive_and_consistent_when_it_returns(fabric, tenant):
    network, _ = tenant.network("10.42.0.0/24")
    a, b, c = tenant.vm(network, 0), tenant.vm(network, 2), tenant.vm(network, 1)
    f0, f2 = a.hypervisor, b.hypervisor
    ctl = fabric.controller
    assert pings(a, b.ip)
    f2.management_link(up=False)
    cut = time.monotonic()
    try:
        wait_until(lambda: not agents(ctl)["f2"]["alive"], timeout=2 * PROBE + 3,
                   what="f2 not alive")
        noticed = time.monotonic() - cut
        assert agents(ctl)["f0"]["alive"] and agents(ctl)["f1"]["alive"]
        fabric.unplug(b)   # meanwhile, on f2: the controller cannot see it
    finally:
        f2.management_link(up=True)
    assert noticed <= 2 * PROBE + 2, noticed
    wait_until(lambda: agents(ctl)["f2"]["alive"], timeout=30, what="f2 alive again")
    wait_until(lambda: ctl.api.get(f"/v2.0/ports/{b.port_id}")[1]["port"]["status"] == "DOWN",
               what="the port unplugged meanwhile DOWN")
    wait_until(lambda: not [line for line in flows(f0, "br-tun") if b.mac in line
                            and "hard_timeout" not in line], what="f0 forgets b")
    wait_until(lambda: tunnel_port_name("vxlan", f2.tunnel_ip) not in tunnel_ports(f0),
               what="f0's tunnel to f2 gone: they share no network now")
    assert pings(a, c.ip)


def test_a_frozen_vswitchd_is_noticed_and_taken_back_when_it_wakes(fabric, tenant):
    """ovs-vswitchd stopped (SIGSTOP) while its ovsdb-server answers: its OpenFlow
    connections fall silent, and without echo requests Ryu kept them open for ever (the
    agent alive, barriers never answered)."""
    network, _ = tenant.network("10.43.0.0/24")
    a, b = tenant.vm(network, 0), tenant.vm(network, 1)
    f1, ctl = b.hypervisor, fabric.controller
    pid = f1.daemon_pid("ovs-vswitchd")
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_until(lambda: not agents(ctl)["f1"]["alive"], timeout=40,
                   what="f1's frozen bridges noticed")
        assert agents(ctl)["f0"]["alive"]
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_until(lambda: agents(ctl)["f1"]["alive"], timeout=30, what="f1 alive again")
    assert pings(a, b.ip)


@pytest.mark.parametrize("bridge,subnet", [("br-int", "10.44.0.0/24"),
                                           ("br-tun", "10.45.0.0/24")])
def test_flows_deleted_by_hand_are_put_back_when_the_canary_is_missed(fabric, tenant,
                                                                     bridge, subnet):
    """ovs-ofctl del-flows: the connection stays up, so only the bridge's canary (table
    23, asked for every tick) tells; before, br-int dropped everything until a reconnect,
    and br-tun had no canary at all."""
    network, _ = tenant.network(subnet)
    a, b = tenant.vm(network, 0), tenant.vm(network, 1)
    assert pings(a, b.ip)
    f0 = a.hypervisor
    f0.ofctl("del-flows", bridge)              # the canary with the rest
    wait_until(lambda: flows(f0, bridge, 23), timeout=10, what=f"{bridge} programmed again")
    assert pings(a, b.ip)



def test_a_vm_port_whose_tag_is_edited_by_hand_is_tagged_again(fabric, tenant):
    """ovs-vsctl set port vnetN tag=M puts the VM in another network's VLAN for NORMAL:
    the controller writes its tag back (ryu_app/asked_tags.py)."""
    network, _ = tenant.network("10.46.0.0/24")
    a, b = tenant.vm(network, 0), tenant.vm(network, 1)
    assert pings(a, b.ip)
    wanted = tag(a)
    a.hypervisor.vsctl("set", "port", a.device, f"tag={wanted + 100}")
    wait_until(lambda: tag(a) == wanted, timeout=10, what=f"{a.device} tagged {wanted} again")
    assert pings(a, b.ip)
