"""DHCPv4 answered by the controller on the VM's own hypervisor (pure: no Ryu, no I/O).

``options`` encodes option values (Neutron's ``extra_dhcp_opts`` names included),
``wire`` reads a client's frame and packs the server's, ``leases`` says what a port is
offered from the tenant model, and ``server`` decides the answer (RFC 2131).
"""
