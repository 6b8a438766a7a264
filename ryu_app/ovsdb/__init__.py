"""OVSDB (RFC 7047): each hypervisor's Open vSwitch database, reached over a session the
hypervisor opens to the controller (``ovs-vsctl set-manager tcp:CONTROLLER:6640``).

``protocol`` is plain data (values, the monitored replica, operations); ``session`` is the
listener and the long-lived, monitored, probed sessions (eventlet).
"""
