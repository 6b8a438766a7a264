"""Neutron v2.0 compatible REST API (a plain WSGI app, mounted by the Ryu shim)."""
