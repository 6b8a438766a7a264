"""Options of the ``[neutron]`` section of Ryu's ``--config-file``, and safe listen defaults."""
from __future__ import annotations

from oslo_config import cfg
from ryu import cfg as ryu_cfg  # Ryu keeps its own ConfigOpts, not oslo's global one

from ryu_app.model.quotas import DEFAULT_LIMITS
from ryu_app.settings import DEFAULT_SETTINGS, Settings

CONF = ryu_cfg.CONF

def _default(name: str):
    """Each option's default is the Settings field's, written once there."""
    return getattr(DEFAULT_SETTINGS, name)


def _ranges(ranges) -> list[str]:
    """Parsed (first, last) ranges as the option spells them: FIRST:LAST."""
    return [f"{first}:{last}" for first, last in ranges]


OPTS = [
    cfg.StrOpt("db_path", default=_default("db_path"),
               help="SQLite database file holding networks, subnets, ports and routers."),
    cfg.StrOpt("db_synchronous", default=_default("db_synchronous"), choices=["NORMAL", "FULL"],
               help="NORMAL: writes survive a controller crash; FULL: also a power loss "
                    "(one fsync per write)."),
    cfg.ListOpt("type_drivers", default=list(_default("type_drivers")),
                help="Network types users may create."),
    cfg.ListOpt("tenant_network_types", default=list(_default("tenant_network_types")),
                help="Types given, in order of preference, to networks created without "
                     "provider attributes."),
    cfg.ListOpt("vni_ranges", default=_ranges(_default("vni_ranges")),
                 help="VXLAN VNIs for tenant networks."),
    cfg.ListOpt("tunnel_id_ranges", default=_ranges(_default("tunnel_id_ranges")),
                 help="GRE keys for tenant networks."),
    cfg.ListOpt("network_vlan_ranges", default=[
        f"{physnet}:{entry}" for physnet, ranges in _default("network_vlan_ranges").items()
        for entry in _ranges(ranges)],
                help="PHYSNET[:FIRST:LAST] entries: physical networks and their tenant VLANs."),
    cfg.ListOpt("flat_networks", default=list(_default("flat_networks")),
                 help="Physical networks allowing flat networks."),
    cfg.StrOpt("default_project_id", default=_default("default_project_id"),
               help="Project owning resources created without a project (no-auth mode)."),
    cfg.IntOpt("global_physnet_mtu", default=_default("global_physnet_mtu"), min=68,
               help="MTU of the underlay."),
    cfg.StrOpt("dvr_base_mac", default=_default("dvr_base_mac"),
               help="Each chassis' DVR MAC is taken from here upwards (and kept)."),
    cfg.IntOpt("packet_in_rate_limit", default=_default("packet_in_rate_limit"), min=1,
               help="Packets per second each integration bridge may send to the controller "
                    "(routed frames whose TTL ran out); beyond it the switch drops them."),
    cfg.IntOpt("dhcp_lease_duration", default=_default("dhcp_lease_duration"), min=-1,
               help="Seconds a DHCP lease lasts (-1: infinite); clients renew at half."),
    cfg.StrOpt("dns_domain", default=_default("dns_domain"),
               help="Domain name VMs are given by DHCP (option 15); empty: none."),
    cfg.IntOpt("dhcp_rate_limit_per_port", default=_default("dhcp_rate_limit_per_port"),
               min=1, help="DHCP requests per second one VM port may send; beyond it the "
                           "switch drops them (a meter per port)."),
    cfg.IntOpt("dhcp_rate_limit_per_bridge", default=_default("dhcp_rate_limit_per_bridge"),
               min=1, help="DHCP requests per second all VMs of one hypervisor may send "
                           "(a meter per integration bridge)."),
    cfg.StrOpt("ovsdb_listen_host", default=_default("ovsdb_listen_host"),
               help="Address hypervisors' OVSDB servers connect to "
                    "(ovs-vsctl set-manager tcp:ADDRESS:PORT)."),
    cfg.PortOpt("ovsdb_listen_port", default=_default("ovsdb_listen_port"),
                help="Port of the OVSDB listener (TLS when ctl_privkey is set)."),
    cfg.FloatOpt("ovsdb_probe_interval", default=_default("ovsdb_probe_interval"), min=0.5,
                 help="Seconds of silence after which a hypervisor's OVSDB session is "
                      "probed; after twice as long it is closed and the agent not alive."),
    cfg.FloatOpt("api_client_timeout", default=_default("api_client_timeout"), min=0.5,
                 help="Seconds a REST client may stay idle, or take over a request, before "
                      "its connection is closed (idle connections cannot hold the API)."),
    cfg.BoolOpt("allow_automatic_l3agent_failover",
                default=_default("allow_automatic_l3agent_failover"),
                help="Move the SNAT of routers off a dvr_snat hypervisor that has not been "
                     "alive (OVSDB and every bridge connected) for agent_down_time seconds; "
                     "they move back once it has been alive as long."),
    cfg.IntOpt("agent_down_time", default=_default("agent_down_time"), min=1,
               help="Seconds a dvr_snat hypervisor may be down before its routers' SNAT "
                    "moves, and must be alive before it takes them back (with "
                    "allow_automatic_l3agent_failover)."),
    cfg.StrOpt("datapath_type", default=_default("datapath_type"), choices=["system", "netdev"],
               help="Datapath of the bridges the controller creates on a hypervisor, unless "
                    "the hypervisor says otherwise (external_ids:neutron-datapath-type)."),
]

CONF.register_opts(OPTS, group="neutron")
# Neutron's [quotas] options: each project's limits unless it was given its own.
QUOTA_OPTS = [cfg.IntOpt(f"quota_{kind}", default=limit, min=-1,
                         help=f"Number of {kind}s allowed per project (-1: unlimited).")
              for kind, limit in DEFAULT_LIMITS.items()]
CONF.register_opts(QUOTA_OPTS, group="quotas")
# Ryu listens on every interface by default; this controller listens on loopback
# unless the configuration says otherwise.  One OpenFlow port: TCP, or TLS when the
# controller has a key and certificate (Ryu then listens on the SSL port only).  Ryu
# sends no echo requests by default, so a switch that stops answering (a frozen or
# powered-off hypervisor) stays "connected" for ever and swallows barriers; here one
# every 5 s, and Ryu closes the connection once more than three are unanswered (~20 s).
for name, value in (("wsapi_host", "127.0.0.1"), ("wsapi_port", 9696),
                    ("ofp_listen_host", "127.0.0.1"),
                    ("ofp_tcp_listen_port", _default("openflow_port")),
                    ("ofp_ssl_listen_port", _default("openflow_port")),
                    ("echo_request_interval", 5.0), ("maximum_unreplied_echo_requests", 3)):
    try:
        CONF.set_default(name, value)
    except cfg.NoSuchOptError:
        pass  # registered by Ryu only when its wsgi/controller modules are imported


def load(conf: cfg.ConfigOpts = CONF) -> Settings:
    group = conf.neutron
    tls_files = (conf.ctl_privkey, conf.ctl_cert, conf.ca_certs)
    return Settings.parse(
        vni_ranges=group.vni_ranges, tunnel_id_ranges=group.tunnel_id_ranges,
        network_vlan_ranges=group.network_vlan_ranges, tls_files=tls_files,
        db_path=group.db_path, db_synchronous=group.db_synchronous,
        type_drivers=group.type_drivers, tenant_network_types=group.tenant_network_types,
        flat_networks=group.flat_networks, default_project_id=group.default_project_id,
        global_physnet_mtu=group.global_physnet_mtu,
        dvr_base_mac=group.dvr_base_mac, packet_in_rate_limit=group.packet_in_rate_limit,
        dhcp_lease_duration=group.dhcp_lease_duration, dns_domain=group.dns_domain,
        dhcp_rate_limit_per_port=group.dhcp_rate_limit_per_port,
        dhcp_rate_limit_per_bridge=group.dhcp_rate_limit_per_bridge,
        ovsdb_listen_host=group.ovsdb_listen_host, ovsdb_listen_port=group.ovsdb_listen_port,
        ovsdb_probe_interval=group.ovsdb_probe_interval, datapath_type=group.datapath_type,
        api_client_timeout=group.api_client_timeout,
        allow_automatic_l3agent_failover=group.allow_automatic_l3agent_failover,
        agent_down_time=group.agent_down_time,
        quotas={kind: getattr(conf.quotas, f"quota_{kind}") for kind in DEFAULT_LIMITS},
        openflow_port=conf.ofp_ssl_listen_port if any(tls_files) else conf.ofp_tcp_listen_port)
