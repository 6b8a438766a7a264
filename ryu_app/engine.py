"""The flows' recomputation, for the core (ryu_app/core.py): no Ryu, no I/O.

Events (a hypervisor's database was seen, a bridge connected, the model took writes)
mark what they touch in one dirty set, including what the model writes they caused
(port bindings) touch; ``flush`` then recomputes each (network, chassis), each VM device
and each chassis' start-up tables once, however many events asked, and returns
``Outputs``: flow-mods per bridge, port tags and provisioning per hypervisor, gratuitous
ARPs.  The shim flushes once the events queued when a batch began are handled, so a
burst is one batch.
A failure to compute one piece is logged and the others go on: a stored write is never
undone by what follows it.
"""
from __future__ import annotations

import collections
import logging
from dataclasses import dataclass, field
from typing import Iterable

from ryu_app.asked_tags import AskedTags
from ryu_app.binding import PortBinder, port_of_device
from ryu_app.engine_nat import NorthSouthEngine
from ryu_app.model.dvr_macs import DvrMacs
from ryu_app.model.hypervisors import Hypervisors
from ryu_app.model.local_vlans import LocalVlansExhausted
from ryu_app.model.nat_zones import NatZones
from ryu_app.model.neighbours import Neighbours
from ryu_app.model.passed_over import PassedOverGateways
from ryu_app.model.tenant import Change, NetworkModel
from ryu_app.ovsdb.provisioning import Target
from ryu_app.pipeline.flow import Flow
from ryu_app.model.tenant import (DHCP_OWNER, ROUTER_INTERFACE_OWNERS, host_named_by_api,
                                  is_bound_vm_port)
from ryu_app.pipeline.security_planner import SECURITY, addresses_of
from ryu_app.pipeline.planner import (BASE, Group, Planner, device_group, is_device_group,
                                      network_group, remote_port_group)
from ryu_app.pipeline.tables import DEAD_VLAN
from ryu_app.reconciler import BridgeFlows, FlowMods, add_to
from topology.chassis import ChassisSpec
from topology.graph import Bridge, BridgeView, Changes, agent_id
from topology.naming import PortInfo

LOG = logging.getLogger(__name__)
REBIND_ROUNDS = 3   # a rebind that frees a port offers it to its other devices: a chain


@dataclass
class EngineOutputs:
    """What the engine asks for: flow-mods, port tags, hypervisors to provision and
    gratuitous ARPs (the core turns tags, provisioning and ARPs into messages)."""

    flow_mods: dict[int, FlowMods] = field(default_factory=dict)      # per datapath id
    tags: dict[str, dict[str, int]] = field(default_factory=dict)     # chassis -> {device: tag}
    provision: set[str] = field(default_factory=set)                  # chassis to re-plan
    # (dpid, ofport, IP, MAC, VLAN or None): gratuitous ARPs after the flows
    announcements: list[tuple[int, int, str, str, int | None]] = field(default_factory=list)
    # (dpid, ofport, our MAC, our IP, asked IP, VLAN): ARP requests for upstream gateways
    arp_requests: list[tuple[int, int, str, str, str, int | None]] = field(
        default_factory=list)
    ct_flushes: list[tuple[int, int]] = field(default_factory=list)   # (dpid, zone)
    # (chassis, zone, IP): a port's address that left its br-int's zone, its connections
    # with it
    ct_address_flushes: list[tuple[str, int, str]] = field(default_factory=list)
    # (chassis, local VLAN) freed, and given to a network: what the switches remember of
    # it (br-tun's learned MACs, br-int's connections in its zone) is forgotten
    released_vlans: list[tuple[str, int]] = field(default_factory=list)
    given_vlans: list[tuple[str, int]] = field(default_factory=list)
    fip_status: dict[str, str] = field(default_factory=dict)          # ACTIVE | DOWN
    # an ACTIVE floating IP: the bridges whose confirmation of the batch makes it so
    fip_bridges: dict[str, frozenset[int]] = field(default_factory=dict)
    recomputed: collections.Counter = field(default_factory=collections.Counter)
    flush_due: bool = False   # a tick dirtied what the next flush recomputes

    def add(self, dpid: int, mods: FlowMods) -> None:
        add_to(self.flow_mods, dpid, mods)


@dataclass
class _Dirty:
    networks: set[str] = field(default_factory=set)                     # recompute all
    hosting: set[str] = field(default_factory=set)                      # if it moved
    remote_ports: set[tuple[str, str]] = field(default_factory=set)     # (network, port)
    devices: set[tuple[str, str]] = field(default_factory=set)          # (chassis, device)
    chassis: set[str] = field(default_factory=set)                      # everything there
    tunnels: set[tuple[str, str, str]] = field(default_factory=set)     # chassis, remote, type
    base: set[str] = field(default_factory=set)                         # start-up tables
    port_changes: list[tuple[dict | None, dict | None]] = field(default_factory=list)
    provision: set[str] = field(default_factory=set)
    routers: set[str] = field(default_factory=set)                      # their SNAT
    fips: set[str] = field(default_factory=set)                         # floating IPs
    security: set[str] = field(default_factory=set)         # chassis: their SECURITY group
    group_rules: set[str] = field(default_factory=set)      # security groups: rules
    group_members: set[str] = field(default_factory=set)    # ... members or addresses
    member_addresses: set = field(default_factory=set)      # addresses joining or leaving
    member_hosts: set[str] = field(default_factory=set)     # chassis naming their groups
    # chassis whose agent was enabled, or given a port by the API: their devices bind
    rebind: set[str] = field(default_factory=set)
    retired: set[str] = field(default_factory=set)          # chassis whose agent was deleted


class Engine:
    def __init__(self, model: NetworkModel, planner: Planner, hypervisors: Hypervisors,
                 dvr_macs: DvrMacs, zones: NatZones, neighbours: Neighbours,
                 passed_over: PassedOverGateways):
        self.model = model
        self.planner = planner
        self.topology = planner.topology
        self.local_vlans = planner.local_vlans
        self.hypervisors = hypervisors
        self.dvr_macs = dvr_macs
        self.binder = PortBinder(model)
        self.bridges: dict[int, BridgeFlows] = {}   # connected bridges: what they hold
        # network -> tunnel bridge -> the ports whose l2pop entries that bridge holds
        self._remote: dict[str, dict[int, set[str]]] = {}
        self._dirty = _Dirty()
        self._staged: dict[int, dict[Group, list[Flow]]] = {}   # dpid -> group -> flows
        # br-int -> the remote groups its member flows were last computed for
        self._named: dict[int, frozenset] = {}
        self._shut: set[tuple[str, str]] = set()   # (chassis, device) whose flows clashed
        self.asked_tags = AskedTags()
        self.north_south = NorthSouthEngine(self, zones, neighbours, passed_over)
        # a deletion a crash cut short (committed, not acted on) is finished at the start
        self._dirty.retired |= model.retiring_hosts()

    # ------------------------------------------------------------------ events

    def database_seen(self, spec: ChassisSpec, views: Iterable[BridgeView],
                      full: bool) -> Changes:
        """A hypervisor's database as it is now; ``full`` after (re)connecting, when ports
        unplugged meanwhile go down and every VM device is tagged afresh.  What changed in
        the topology (the next flush acts on it)."""
        self.topology.sessions.add(spec.name)
        self._register(spec)
        views = list(views)
        for renamed, moved in self.topology.take_bridges(spec.name, views).items():
            self._absorb_topology(renamed, moved)
        changes = self.topology.sync_chassis(spec.name, views)
        self._absorb_topology(spec.name, changes)
        integration = self.topology.bridge(spec.name, "int")
        for view in views:
            if integration is not None and view.name == integration.name:
                for device in sorted(self.asked_tags.drifted(spec.name, view.tags)):
                    # a second writer of Port.tag (a Neutron agent left running) shows here
                    LOG.warning("hypervisor %s: %s's tag is %s, not the one written: "
                                "writing it again", spec.name, device, view.tags[device])
                    self._dirty.devices.add((spec.name, device))
        if full and integration is not None:
            devices = self.planner.vm_devices(integration)
            self.binder.integration_bridge_synced(spec.name, devices)
            self._dirty.devices |= {(spec.name, device.name) for device in devices}
        if full:
            # networks this chassis hosts without a local VLAN here, or holds one of
            # without hosting them: a write committed just before the controller died
            # (a binding or unbinding, a router interface) may not have had its flush
            self._dirty.hosting |= {
                network_id for network_id in self.model.records["network"]
                if (self.local_vlans.get(spec.name, network_id) is not None)
                != (spec.name in self.planner.hosting_chassis(network_id))}
        self._dirty.provision.add(spec.name)
        return changes

    def session_lost(self, chassis: str) -> None:
        """Not alive any more; what its switches hold stays as it was."""
        self.topology.sessions.discard(chassis)

    def bridge_connected(self, dpid: int) -> EngineOutputs:
        """Everything the bridge should hold, under a fresh cookie (the shim then sweeps
        what carries another)."""
        outputs = EngineOutputs()
        bridge = self.topology.bridges[dpid]
        self.topology.connected.add(dpid)
        self.bridges[dpid] = BridgeFlows()
        self._install(dpid, self._bridge_groups(bridge), outputs)
        self._named[dpid] = self.planner.security.named_remotes(bridge)
        self.north_south.connected(dpid, outputs)
        return outputs

    def ticked(self) -> EngineOutputs:
        """Time passed: ARP requests due, gratuitous ARPs and floating IPs' zone flushes
        due again, and routers whose SNAT moves with its gateway hypervisors' liveness
        (``flush_due``)."""
        outputs = EngineOutputs()
        outputs.flush_due = bool(self._guarded(self.north_south.gateways_checked, self._dirty))
        self.north_south.neighbour_requests(outputs)
        self.north_south.repeat_announcements(outputs)
        self.north_south.repeat_flushes(outputs)
        return outputs

    def neighbour_seen(self, dpid: int, in_port: int, vid: int | None, ip: str,
                       mac: str) -> bool:
        """An ARP answer a bridge sent up (by the patch ``in_port``, in the wire's VLAN
        ``vid``): True when flows must follow (flush)."""
        return self.north_south.neighbour_seen(dpid, in_port, vid, ip, mac, self._dirty)

    def bridge_gone(self, dpid: int) -> None:
        self.topology.connected.discard(dpid)
        self.bridges.pop(dpid, None)
        self._named.pop(dpid, None)
        for held in self._remote.values():
            held.pop(dpid, None)

    def tags(self, chassis: str, devices: Iterable[str]) -> dict[str, int]:
        """The access tags the named VM devices of a chassis should have now."""
        integration = self.topology.bridge(chassis, "int")
        found = [self.topology.port(integration, name) for name in devices] if integration else []
        return {device.name: self._tag(chassis, device) for device in found if device is not None}

    def _tag(self, chassis: str, device: PortInfo) -> int:
        """A VM device's access tag: the dead VLAN while it is shut, else its port's."""
        if (chassis, device.name) in self._shut:
            return DEAD_VLAN
        return self.planner.device_tag(chassis, device)

    def _set_tag(self, chassis: str, name: str, tag: int, outputs: EngineOutputs) -> None:
        outputs.tags.setdefault(chassis, {})[name] = tag
        self.asked_tags.asked(chassis, name, tag)

    def tags_refused(self, chassis: str, devices: Iterable[str]) -> None:
        """Tags the hypervisor refused to the last retry (ryu_app/asked_tags.py)."""
        self.asked_tags.refused(chassis, devices)

    def target(self, chassis: str, controller: str, datapath_type: str) -> Target:
        """What the chassis' database should hold now: its bridges pointed at
        ``controller``, and a tunnel to each chassis it shares a VXLAN/GRE network with."""
        spec = self.topology.chassis[chassis]
        tunnels = frozenset((kind, self.topology.chassis[remote].tunnel_ip)
                            for kind, remote in self.planner.tunnels_wanted(chassis))
        return Target(spec, spec.datapath_type or datapath_type, controller, tunnels)

    # ----------------------------------------------------------- what changed

    def _register(self, spec: ChassisSpec) -> None:
        known = self.topology.chassis.get(spec.name)
        if self.hypervisors.register(spec) or known != spec:
            self.topology.register(spec)
            self.dvr_macs.ensure(spec.name)
            self._dirty.base |= set(self.topology.chassis)   # every chassis knows every
            self._dirty.chassis.add(spec.name)               # DVR MAC
            if known is not None and known.tunnel_ip != spec.tunnel_ip:
                # the others' tunnels to it go to its new address (made there, or
                # already there and now leading to it): every hypervisor is provisioned
                # and its flood lists and l2pop entries recomputed
                self._dirty.chassis |= set(self.topology.chassis)
                self._dirty.provision |= set(self.topology.chassis)
            self.north_south.snat_may_move(self._dirty)   # its agent mode, its mappings

    def _absorb_topology(self, chassis: str, changes: Changes) -> None:
        """Bindings for the VM devices that came or went; dirt for what the rest moves."""
        for bridge in changes.bridges_removed:
            self.bridge_gone(bridge.dpid)
            if bridge.role == "int":
                self.asked_tags.forget(chassis)
        if changes.bridges_added or changes.bridges_removed:
            self._dirty.chassis.add(chassis)
        recreated = ({port.name for _, port in changes.ports_removed}
                     & {port.name for _, port in changes.ports_added})
        for bridge, port in changes.ports_removed + changes.ports_added:
            self._port_moved(chassis, bridge, port, port.name in recreated)
        self.binder.devices_moved(
            chassis, [port for bridge, port in changes.ports_added if _vm_device(bridge, port)],
            [port for bridge, port in changes.ports_removed if _vm_device(bridge, port)],
            plugged=lambda port_id: chassis in self.topology.devices_of(port_id))

    def _replaced(self, bridge: Bridge, device: PortInfo, owner: dict) -> set[tuple[str, str]]:
        """The other devices on br-int for a port bound here (a device libvirt re-creates
        is added before the old one goes): the newest is the port's, the rest go dead.
        A port not bound here yet (the usual plug) has none, and costs no scan."""
        if owner["binding:host_id"] != bridge.chassis:
            return set()
        return {(bridge.chassis, other.name) for other in self.planner.vm_devices(bridge)
                if other.name != device.name and port_of_device(self.model, other) is owner}

    def _port_moved(self, chassis: str, bridge: Bridge, port: PortInfo,
                    recreated: bool = False) -> None:
        """``recreated``: a device of this name went and came in one update (a new ofport
        under the old name)."""
        if _vm_device(bridge, port):
            self._dirty.devices.add((chassis, port.name))
            owner = port_of_device(self.model, port)
            replaced = self._replaced(bridge, port, owner) if owner is not None else set()
            if (replaced or recreated) and owner is not None:
                # the port's device here changed: its ofport, in routes and in the
                # bridge's shared security flows (its address pairs' hand-over) too
                self._dirty.devices |= replaced
                self._dirty.security.add(chassis)
                self._guarded(self._port_written, owner)
        elif port.kind == "tunnel":
            remote = self.topology.chassis_by_ip.get(port.remote_ip)
            self._dirty.tunnels.add((chassis, remote, port.tunnel_type))
            self._dirty.base.add(chassis)
        else:
            self._dirty.chassis.add(chassis)

    def model_changed(self, changes: Iterable[Change]) -> None:
        """Model writes, as (kind, old, new): mark what they touch."""
        for kind, old, new in changes:
            self._guarded(self.north_south.changed, (kind, old, new), self._dirty)
            if kind == "network":
                self._dirty.networks.add((old or new)["id"])
            elif kind == "subnet":   # enable_dhcp: whether its VMs' requests are served
                self._dirty.devices |= self._devices_on((old or new)["network_id"])
                if not (old and new) or old["gateway_ip"] != new["gateway_ip"]:
                    # an external subnet's gateway is its routers' upstream next hop,
                    # whose answers its network's flows send up
                    self._dirty.networks.add((old or new)["network_id"])
            elif kind == "port":
                for port in (old, new):
                    if port is not None:
                        self._guarded(self._port_written, port)
                self._dirty.port_changes.append((old, new))
                self._security_of_port(old, new)
                if new and new["binding:host_id"] and (_enabled_again(old, new) or (
                        old and old["binding:host_id"] != new["binding:host_id"]
                        and host_named_by_api(new))):   # the API moved it
                    self._dirty.rebind.add(new["binding:host_id"])   # its device, if there
                if _enabled_again(old, new) or _device_left(old, new):
                    # wherever its device went meanwhile, or its next device already is
                    self._dirty.rebind |= {chassis for chassis, _ in
                                           self.planner.devices_of(new)}
            elif kind in ("security_group", "security_group_rule"):
                record = old or new
                self._dirty.group_rules.add(record.get("security_group_id", record["id"]))
            elif kind == "subnetpool" and old and new and (
                    old["address_scope_id"] != new["address_scope_id"]):
                self._dirty.networks |= self._routed_with_pool(new["id"])
            elif kind == "agent" and new and new.get("retired"):
                self._dirty.retired.add(new["host"])
            elif kind == "agent" and _enabled_again(old, new):
                self._dirty.rebind.add(new["host"])

    def _routed_with_pool(self, pool_id: str) -> set[str]:
        """The networks whose routes a pool's address scope decides: those of its
        subnets, the networks their routers join them to, and those behind the routers
        whose gateway is on one of them (routed outside without SNAT only within its
        scope)."""
        networks = {subnet["network_id"] for subnet in self.model.pool_subnets(pool_id)}
        nat = self.planner.nat
        behind = {port["network_id"] for router_id in nat.gateway_routers()
                  if (external := nat.gateway_network(router_id)) is not None
                  and external["id"] in networks
                  for port in self.planner.dvr_interfaces(router_id)}
        return behind | {other for network_id in networks
                         for other in self.planner.routed_with(network_id) | {network_id}}

    def _security_of_port(self, old: dict | None, new: dict | None) -> None:
        """A port written: its hypervisor's shared security flows (whether it is filtered
        there), and, when what makes it a member changed, those of the hypervisors whose
        rules name its groups as remote."""
        self._dirty.security |= {port["binding:host_id"] for port in (old, new)
                                 if port is not None and port["binding:host_id"]}
        if old is None or new is None or old["mac_address"] != new["mac_address"]:
            for port in (old, new):
                if port is not None:
                    self._dirty.security |= self.planner.security.pair_claimants(
                        port["network_id"], [port["mac_address"]])
        if old is None or new is None or any(old.get(key) != new.get(key) for key in (
                "security_groups", "fixed_ips", "allowed_address_pairs")):
            versions = [port for port in (old, new) if port is not None]
            self._dirty.group_members |= {group for port in versions
                                          for group in port.get("security_groups", ())}
            self._dirty.member_addresses |= {address for port in versions
                                             for address in addresses_of(port)}

    def _port_written(self, port: dict) -> None:
        """A port that changes (or a version of it that goes) dirties its own device, and
        either its network's routing (a routed network or a router's interface: routes
        name every VM) or only its own l2pop entries and, if it moved, its network's
        hosting (local VLANs and flood lists)."""
        self._dirty.devices |= {(chassis, device.name) for chassis, device
                                in self.planner.devices_of(port)}
        network_id = port["network_id"]
        if port["device_owner"] in ROUTER_INTERFACE_OWNERS:   # its VMs' filters name it
            self._dirty.devices |= self._devices_on(network_id)
        if port["device_owner"] in ROUTER_INTERFACE_OWNERS or (
                is_bound_vm_port(port) and self.planner.routers_on(network_id)):
            self._dirty.networks |= self.planner.affected_networks(port)
        elif is_bound_vm_port(port):
            self._dirty.hosting.add(network_id)
            self._dirty.remote_ports.add((network_id, port["id"]))
        elif port["device_owner"] == DHCP_OWNER:   # the server's ARP; what DHCP serves
            self._dirty.networks.add(network_id)
            self._dirty.devices |= self._devices_on(network_id)

    def _devices_on(self, network_id: str) -> set[tuple[str, str]]:
        """(chassis, device) of every VM device bound to a port of the network."""
        return {(chassis, device.name)
                for ports in self.planner.ports_by_chassis(network_id).values()
                for port in ports for chassis, device in self.planner.devices_of(port)}

    # ------------------------------------------------------------------ flush

    def flush(self) -> EngineOutputs:
        """Recompute what the events since the last flush (and the model's writes) touched."""
        with self.planner.security.one_reading():
            return self._flush()

    def _bind_waiting_devices(self) -> None:
        """Hypervisors whose agent was enabled again bind the devices that waited."""
        for _ in range(REBIND_ROUNDS):   # a round's bindings may free ports for the next
            rebind, self._dirty.rebind = self._dirty.rebind, set()
            if not rebind:
                return
            for chassis in sorted(rebind):
                integration = self.topology.bridge(chassis, "int")
                if integration is not None:
                    self.binder.integration_bridge_synced(
                        chassis, self.planner.vm_devices(integration))
            self.model_changed(self.model.take_changes())

    def _retire_deleted(self) -> None:
        """Hypervisors whose agents were deleted are forgotten, unless one came back; one
        whose retirement failed is tried again at the next flush."""
        retired, self._dirty.retired = self._dirty.retired, set()
        for chassis in sorted(retired):
            if not self._guarded(self._retire, chassis):
                self._dirty.retired.add(chassis)
        if retired:
            self.model_changed(self.model.take_changes())

    def _retire(self, chassis: str) -> bool:
        """Forget a hypervisor: its bridges and devices (its ports go DOWN), its local
        VLANs, its description and DVR MAC.  The others lose their tunnels to it, learn
        every DVR MAC afresh, and routers whose SNAT it ran move it elsewhere.  One whose
        OVSDB session or a bridge's OpenFlow connection is up again keeps everything."""
        if self._connected(chassis):
            LOG.info("hypervisor %s connected again: its agent is not retired", chassis)
            self.model.keep_agent(agent_id(chassis))
            return True
        if chassis in self.topology.chassis:
            self._absorb_topology(chassis, self.topology.sync_chassis(chassis, []))
            self.binder.devices_moved(chassis, [], [], gone=[
                port["id"] for port in self.model.records["port"].values()
                if is_bound_vm_port(port, chassis)])
            self._dirty.networks |= set(self.local_vlans.networks_on(chassis))
            self.local_vlans.forget(chassis)
            # each store write before the next, the description last: a crash in between
            # leaves the hypervisor known, and the next start retires it again
            self.local_vlans.commit()
            self.dvr_macs.release(chassis)
            self.hypervisors.unregister(chassis)
            self.topology.unregister(chassis)
            self._dirty.base |= set(self.topology.chassis)   # the DVR MACs they know
            self.north_south.snat_may_move(self._dirty)
            LOG.info("hypervisor %s retired: its agent was deleted", chassis)
        self.model.forget_agent(agent_id(chassis))
        return True

    def _connected(self, chassis: str) -> bool:
        return chassis in self.topology.sessions or bool(self.topology.connected_bridges(chassis))

    def _flush(self) -> EngineOutputs:
        outputs = EngineOutputs()
        self.model_changed(self.model.take_changes())   # what nobody handed in yet
        self._retire_deleted()
        self._bind_waiting_devices()
        dirty, self._dirty = self._dirty, _Dirty()
        self._dirty.retired = dirty.retired   # retirements that failed: the next flush
        self._dirty.rebind = dirty.rebind     # bindings past the last round: the next too
        outputs.provision |= dirty.provision
        for network_id in dirty.hosting - dirty.networks:
            if self.planner.hosting_chassis(network_id) != self.local_vlans.chassis_of(
                    network_id):
                dirty.networks.add(network_id)
        pairs = set()
        for network_id in dirty.networks:   # every local VLAN first: routes use others'
            pairs |= {(network_id, chassis) for chassis in self._sync_local_vlans(
                network_id, outputs)}
        for chassis in dirty.chassis & set(self.topology.chassis):
            pairs |= {(network, chassis) for network in self.local_vlans.networks_on(chassis)}
            dirty.base.add(chassis)
            dirty.devices |= {(chassis, device.name) for bridge in
                              self.topology.bridges_of(chassis) if bridge.role == "int"
                              for device in self.planner.vm_devices(bridge)}
        tunnelled = set()   # (network, chassis, remote): a new way to reach remote's ports
        for chassis, remote, kind in dirty.tunnels:
            tunnelled |= {(network, chassis, remote)
                          for network in self.local_vlans.networks_on(chassis)
                          if self._tunnelled(network, kind) and remote in
                          self.local_vlans.chassis_of(network)}
        for network_id, chassis in sorted(pairs):
            self._guarded(self._recompute_network, network_id, chassis, outputs)
        for network_id, chassis, remote in sorted(tunnelled):
            if (network_id, chassis) not in pairs:
                self._guarded(self._reach, network_id, chassis, remote, outputs)
        for network_id, port_id in sorted(dirty.remote_ports):
            if network_id not in dirty.networks:   # else done with its network
                self._guarded(self._recompute_remote_port, network_id, port_id, outputs)
        self._expand_security(dirty)
        for chassis, name in sorted(dirty.devices):
            self._guarded(self._recompute_device, chassis, name, outputs)
        dirty.security |= {chassis for _, chassis in pairs}   # zones may have moved
        for chassis in sorted(dirty.security & set(self.topology.chassis)):
            self._guarded(self._recompute_security, chassis, outputs)
        for chassis in sorted(dirty.member_hosts & set(self.topology.chassis)):
            self._guarded(self._recompute_members, chassis, dirty.member_addresses, outputs)
        if dirty.chassis:
            self.north_south.everything(dirty)
        self.north_south.networks_changed(dirty.networks, dirty)
        self._guarded(self.north_south.recompute, dirty, outputs)
        if dirty.routers or dirty.fips:   # else the next tick asks what is due
            self._guarded(self.north_south.neighbour_requests, outputs)
        for chassis in sorted(dirty.base):
            for bridge in self.topology.bridges_of(chassis):
                self._guarded(self._replace, bridge, BASE, self.planner.base_flows, outputs)
        for old, new in dirty.port_changes:
            outputs.announcements += self._guarded(self.planner.gateway_announcements,
                                                   old, new) or []
            outputs.ct_address_flushes += self._addresses_gone(old, new)
        self._commit(outputs)
        self.local_vlans.commit()   # before anything that uses them is sent
        return outputs

    def _addresses_gone(self, old: dict | None, new: dict | None) -> list[tuple[str, int, str]]:
        """(chassis, zone, IP) for each fixed IP a filtered port held on its hypervisor and
        holds there no more (deleted, unplugged, moved, readdressed): its connections go
        with it, as Neutron's agent deletes them, or a port given the address there
        later would receive the replies they let in.  A zone freed with it needs none:
        it is flushed whole when it is given again."""
        if old is None or not is_bound_vm_port(old) or not old["port_security_enabled"]:
            return []
        chassis = old["binding:host_id"]
        kept = {ip["ip_address"] for ip in new["fixed_ips"]} if (
            new is not None and is_bound_vm_port(new, chassis)) else set()
        zone = self.local_vlans.get(chassis, old["network_id"])
        if zone is None:
            return []
        return [(chassis, zone, ip["ip_address"]) for ip in old["fixed_ips"]
                if ip["ip_address"] not in kept]

    @staticmethod
    def _guarded(compute, *args):
        try:
            return compute(*args)
        except Exception:  # noqa: BLE001 - one failure must not stop the others
            LOG.exception("computing %s%s failed", compute.__name__, args[:2])
            return None

    def _sync_local_vlans(self, network_id: str, outputs: EngineOutputs) -> set[str]:
        """Give the network a local VLAN where it is hosted and free it where it is not
        any more; the chassis that had or have it.  Their tunnels may have to change."""
        hosting = self.planner.hosting_chassis(network_id)
        before = self.local_vlans.chassis_of(network_id) | {
            self.topology.bridges[dpid].chassis for dpid, state in self.bridges.items()
            if network_group(network_id) in state.groups}
        for chassis in hosting - self.local_vlans.chassis_of(network_id):
            try:
                outputs.given_vlans.append((chassis, self.local_vlans.ensure(chassis, network_id)))
            except LocalVlansExhausted as error:
                LOG.error("network %s cannot be served on %s: %s", network_id, chassis, error)
        for chassis in before - hosting:
            lvid = self.local_vlans.get(chassis, network_id)
            self.local_vlans.release(chassis, network_id)
            if lvid is not None:
                outputs.released_vlans.append((chassis, lvid))
        if hosting != before:
            outputs.provision |= before | hosting
        return before | hosting

    def _tunnelled(self, network_id: str, kind: str) -> bool:
        network = self.model.records["network"].get(network_id)
        return network is not None and network["provider:network_type"] == kind

    def _recompute_network(self, network_id: str, chassis: str, outputs: EngineOutputs) -> None:
        """The network's flows on the chassis, its remote ports' l2pop entries included."""
        outputs.recomputed[(network_id, chassis)] += 1
        group = network_group(network_id)
        for bridge in self.topology.bridges_of(chassis):
            self.apply(bridge, group, self.planner.network_flows(bridge, network_id),
                       outputs)
            wanted = self.planner.remote_ports(bridge, network_id)
            held = self._remote.get(network_id, {}).get(bridge.dpid, set())
            for port_id in held - set(wanted):
                self._apply_remote(bridge, network_id, port_id, [], outputs)
            for port_id, flows in wanted.items():
                self._apply_remote(bridge, network_id, port_id, flows, outputs)

    def _recompute_security(self, chassis: str, outputs: EngineOutputs) -> None:
        """The security-group flows the chassis' filtered ports share: the zones', and,
        when the remote groups their rules name changed, every member address's (those it
        holds and no rule names any more emptied)."""
        bridge = self.topology.bridge(chassis, "int")
        if bridge is None or bridge.dpid not in self.bridges:
            return
        self.apply(bridge, SECURITY, self.planner.security.bridge_flows(bridge), outputs)
        named = self.planner.security.named_remotes(bridge)
        if self._named.get(bridge.dpid) == named:
            return   # the same groups' members: what changed among them is done apart
        self._named[bridge.dpid] = named
        wanted = self.planner.security.member_groups(bridge)
        for group in self.bridges[bridge.dpid].groups:
            if group[0] == "member" and group not in wanted:
                self.apply(bridge, group, [], outputs)
        for group, flows in wanted.items():
            self.apply(bridge, group, flows, outputs)

    def _recompute_members(self, chassis: str, addresses: set, outputs: EngineOutputs) -> None:
        """Only these member addresses' flows on the chassis' br-int."""
        bridge = self.topology.bridge(chassis, "int")
        if bridge is not None:
            for group, flows in self.planner.security.member_groups(bridge, addresses).items():
                self.apply(bridge, group, flows, outputs)

    def _expand_security(self, dirty: _Dirty) -> None:
        """Security groups changed: the devices of the members of a group whose rules
        changed (their rule flows) and their hypervisors; the hypervisors of the ports
        whose rules name a group whose members changed (its member addresses)."""
        ports = self.model.records["port"]
        for group_id in dirty.group_rules:
            for port_id in self.model.members_of(group_id):
                if (port := ports.get(port_id)) is not None:
                    devices = self.planner.devices_of(port)
                    dirty.devices |= {(chassis, device.name) for chassis, device in devices}
                    dirty.security |= {chassis for chassis, _ in devices}
        naming = {rule["security_group_id"] for group_id in dirty.group_members
                  for rule in self.model.rules_with_remote(group_id)}
        for group_id in naming:
            dirty.member_hosts |= {ports[port_id]["binding:host_id"] for port_id in
                                   self.model.members_of(group_id) if port_id in ports}

    def _reach(self, network_id: str, chassis: str, remote: str, outputs: EngineOutputs) -> None:
        """A tunnel from ``chassis`` to ``remote`` came or went: the network's flood list
        there, and the l2pop entries of its ports on ``remote``."""
        bridge = self.topology.bridge(chassis, "tun")
        if bridge is None:
            return
        self.apply(bridge, network_group(network_id),
                   self.planner.network_flows(bridge, network_id), outputs)
        for port in self.planner.ports_at(network_id, remote):
            self._apply_remote(bridge, network_id, port["id"], self.planner.remote_port_flows(
                bridge, network_id, port), outputs)

    def _recompute_remote_port(self, network_id: str, port_id: str, outputs: EngineOutputs) -> None:
        """One port's l2pop entries on every tunnel bridge that serves its network."""
        port = self.model.records["port"].get(port_id)
        holders = set(self._remote.get(network_id, {}))
        for chassis in self.local_vlans.chassis_of(network_id):
            bridge = self.topology.bridge(chassis, "tun")
            if bridge is not None:
                holders.add(bridge.dpid)
        for dpid in holders:
            bridge = self.topology.bridges.get(dpid)
            if bridge is not None:
                flows = self.planner.remote_port_flows(bridge, network_id, port)
                self._apply_remote(bridge, network_id, port_id, flows, outputs)

    def _apply_remote(self, bridge: Bridge, network_id: str, port_id: str,
                      flows: list[Flow], outputs: EngineOutputs) -> None:
        self.apply(bridge, remote_port_group(network_id, port_id), flows, outputs)
        held = self._remote.setdefault(network_id, {}).setdefault(bridge.dpid, set())
        if flows:
            held.add(port_id)
        else:
            held.discard(port_id)

    def _recompute_device(self, chassis: str, name: str, outputs: EngineOutputs) -> None:
        """A VM device's flows and tag; an unplugged one's flows go."""
        integration = self.topology.bridge(chassis, "int")
        if integration is None:
            return
        device = self.topology.port(integration, name)
        if device is None:
            self.apply(integration, device_group(name), [], outputs)
            self.asked_tags.forget(chassis, name)
            return
        self.apply(integration, device_group(name),
                   self.planner.device_flows(integration, device), outputs)
        self._set_tag(chassis, name, self._tag(chassis, device), outputs)

    def _replace(self, bridge: Bridge, group: Group, compute, outputs: EngineOutputs) -> None:
        self.apply(bridge, group, compute(bridge), outputs)

    def apply(self, bridge: Bridge, group: Group, flows: list[Flow],
              outputs: EngineOutputs) -> None:
        """One group's flows on a bridge, staged until the flush ends: then every group
        changed on the bridge is replaced at once (``_commit``), so a flow one group gives
        up and another takes in the same batch is one add, in whatever order they came."""
        if bridge.dpid in self.bridges:   # not connected: it gets everything when it connects
            self._staged.setdefault(bridge.dpid, {})[group] = flows

    def _commit(self, outputs: EngineOutputs) -> None:
        """The flow-mods of what the flush staged, bridge by bridge."""
        staged, self._staged = self._staged, {}
        for dpid, groups in sorted(staged.items()):
            if dpid in self.bridges:
                self._install(dpid, groups, outputs)

    def _install(self, dpid: int, groups: dict[Group, list[Flow]],
                 outputs: EngineOutputs) -> None:
        """Groups' flows onto a bridge at once.  A group that wants a flow another holds
        keeps what it held (logged), except a VM device's, which is shut: its device
        passes nothing (the dead-port drop, the dead VLAN), since a port whose filter
        could not be installed must not pass unfiltered meanwhile.  The bridge's shut
        devices are tried again each time, after every other group (the clash stays
        theirs), and open again once it is gone."""
        bridge = self.topology.bridges[dpid]
        shut = self._shut_devices(bridge)
        batch = {group: flows for group, flows in groups.items() if group not in shut}
        batch.update({group: groups[group] if group in groups else
                      self.planner.device_flows(bridge, device)
                      for group, device in shut.items()})
        mods, refused = self.bridges[dpid].replace_many(batch)
        outputs.add(dpid, mods)
        for group, reason in refused.items():
            if not is_device_group(group):
                LOG.error("bridge %016x keeps what it holds: %s", dpid, reason)
            elif (device := self.topology.port(bridge, group[1])) is not None:
                self._shut_device(bridge, device, reason, outputs)
        for group, device in shut.items():
            if group not in refused:
                self._shut.discard((bridge.chassis, device.name))
                LOG.info("hypervisor %s: device %s open again", bridge.chassis, device.name)
                self._set_tag(bridge.chassis, device.name, self._tag(bridge.chassis, device),
                              outputs)

    def _shut_devices(self, bridge: Bridge) -> dict[Group, PortInfo]:
        """A br-int's shut devices still plugged, by group; the unplugged ones are no
        longer shut."""
        found: dict[Group, PortInfo] = {}
        for chassis, name in sorted(self._shut):
            if chassis == bridge.chassis and bridge.role == "int":
                device = self.topology.port(bridge, name)
                if device is None:
                    self._shut.discard((chassis, name))
                else:
                    found[device_group(name)] = device
        return found

    def _shut_device(self, bridge: Bridge, device: PortInfo, reason: str,
                     outputs: EngineOutputs) -> None:
        """The device passes nothing: only the dead-port drop, and the dead VLAN."""
        group = device_group(device.name)
        if (bridge.chassis, device.name) not in self._shut:
            port = self.planner.device_port(bridge.chassis, device)
            LOG.error("hypervisor %s: device %s (port %s) shut, passing nothing until the "
                      "clash is gone: %s", bridge.chassis, device.name,
                      port["id"] if port else "none", reason)
        mods, refused = self.bridges[bridge.dpid].replace_many(
            {group: self.planner.dead_device_flows(device)})
        outputs.add(bridge.dpid, mods)
        for why in refused.values():   # its own in_port: held by no other group
            LOG.error("bridge %016x keeps what it holds: %s", bridge.dpid, why)
        self._shut.add((bridge.chassis, device.name))
        self._set_tag(bridge.chassis, device.name, DEAD_VLAN, outputs)

    # ---------------------------------------------------------------- queries

    def held(self) -> dict[int, dict[Group, list[Flow]]]:
        """What each connected bridge holds, group by group (what the core sent it)."""
        return {dpid: {group: list(flows.values()) for group, flows in state.groups.items()}
                for dpid, state in self.bridges.items()}

    def _bridge_groups(self, bridge: Bridge) -> dict[Group, list[Flow]]:
        """Every group of one bridge, noting which remote ports' entries it holds."""
        groups = self.planner.bridge_groups(bridge)
        for group in groups:
            if group[0] == "remote":
                self._remote.setdefault(group[1], {}).setdefault(bridge.dpid, set()).add(
                    group[2])
        return groups


def _vm_device(bridge: Bridge, port: PortInfo) -> bool:
    return port.kind == "vm" and bridge.role == "int"


def _device_left(old: dict | None, new: dict | None) -> bool:
    """A port its device no longer holds (ACTIVE, now DOWN on the same host) and that
    follows its devices (no host the API named): a device for it on another hypervisor,
    plugged while it was held, may take it now."""
    return bool(old and new and old["status"] == "ACTIVE" and new["status"] == "DOWN"
                and old["binding:host_id"] == new["binding:host_id"]
                and new.get("admin_state_up", True) and not host_named_by_api(new))


def _enabled_again(old: dict | None, new: dict | None) -> bool:
    """An agent or a port whose admin_state_up went from false to true: what waited
    (devices that could not bind, a disabled port's device) binds now."""
    return bool(old and new and not old.get("admin_state_up", True)
                and new.get("admin_state_up", True))
