"""The controller's settings as plain data, parsed from the configuration file.

Kept free of oslo.config so that tests and the pure layers can build settings
directly; :mod:`ryu_app.config` fills this from Ryu's ``--config-file``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ryu_app.model.quotas import DEFAULT_LIMITS
from ryu_app.model.segments import NETWORK_TYPES, parse_tunnel_ranges, parse_vlan_ranges
from topology.chassis import DATAPATH_TYPES


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for TLS on the OpenFlow and OVSDB listeners; switches must present a
    certificate signed by the CA."""

    private_key: str
    certificate: str
    ca_certificates: str


@dataclass(frozen=True)
class Settings:
    db_path: str = "/var/lib/neutron-ryu/neutron.sqlite"
    db_synchronous: str = "NORMAL"
    type_drivers: tuple[str, ...] = NETWORK_TYPES
    tenant_network_types: tuple[str, ...] = ("vxlan",)
    vni_ranges: tuple[tuple[int, int], ...] = ((1001, 2000),)
    tunnel_id_ranges: tuple[tuple[int, int], ...] = ((1, 1000),)
    network_vlan_ranges: dict[str, list[tuple[int, int]]] = field(
        default_factory=lambda: {"physnet1": [(3001, 4000)]})
    flat_networks: tuple[str, ...] = ("*",)
    default_project_id: str = "admin"
    global_physnet_mtu: int = 1500
    dvr_base_mac: str = "fa:16:3f:00:00:00"
    packet_in_rate_limit: int = 100
    dhcp_lease_duration: int = 86400     # seconds; -1: infinite (Neutron's option)
    dns_domain: str = ""                 # DHCP option 15, when set
    dhcp_rate_limit_per_port: int = 5    # DHCP requests/s one VM port may send
    dhcp_rate_limit_per_bridge: int = 100   # ... and all of one hypervisor's VMs
    ovsdb_listen_host: str = "127.0.0.1"
    ovsdb_listen_port: int = 6640
    ovsdb_probe_interval: float = 5.0
    datapath_type: str = "system"
    openflow_port: int = 6653            # where hypervisors' bridges connect (TCP or TLS)
    api_client_timeout: float = 5.0      # an idle or slow REST connection is closed
    tls: TlsFiles | None = None
    # Neutron's options of that name: a dvr_snat hypervisor not alive for agent_down_time
    # seconds passes its routers' SNAT to another, until it has been alive as long (off
    # by default, as in Neutron)
    allow_automatic_l3agent_failover: bool = False
    agent_down_time: int = 75
    # per-project limits of projects without their own (the [quotas] section)
    quotas: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_LIMITS))

    @classmethod
    def parse(cls, *, vni_ranges: list[str], tunnel_id_ranges: list[str],
              network_vlan_ranges: list[str], tls_files: tuple[str | None, ...] = (None,) * 3,
              **plain) -> "Settings":
        """Settings from configuration strings, raising ValueError on any bad value."""
        drivers = set(plain.get("type_drivers", cls.type_drivers))
        if drivers - set(NETWORK_TYPES):
            raise ValueError(f"type_drivers {sorted(drivers - set(NETWORK_TYPES))} are not "
                             f"network types this controller builds ({', '.join(NETWORK_TYPES)})")
        unknown = set(plain.get("tenant_network_types", ())) - drivers
        if unknown:
            raise ValueError(f"tenant_network_types {sorted(unknown)} are not in type_drivers")
        if plain.get("datapath_type", cls.datapath_type) not in DATAPATH_TYPES:
            raise ValueError(f"datapath_type must be one of {DATAPATH_TYPES}")
        if any(tls_files) and not all(tls_files):
            raise ValueError("ctl_privkey, ctl_cert and ca_certs go together: TLS needs the "
                             "controller's key and certificate and the CA that signs switches")
        return cls(vni_ranges=parse_tunnel_ranges("vxlan", vni_ranges),
                   tunnel_id_ranges=parse_tunnel_ranges("gre", tunnel_id_ranges),
                   network_vlan_ranges=parse_vlan_ranges(network_vlan_ranges),
                   tls=TlsFiles(*tls_files) if all(tls_files) else None,
                   **{k: tuple(v) if isinstance(v, list) else v for k, v in plain.items()})


DEFAULT_SETTINGS = Settings()
