"""Table numbers of Neutron's native OVS agent (neutron-lib ovs_constants), one place each."""

# br-int
INT_LOCAL_SWITCHING = 0   # classification: dead VLAN, provider VLAN in, anti-spoof redirects
INT_DVR_TO_SRC_MAC = 1    # DVR, from a tunnel: routed frame gets the gateway MAC back, to its VM
INT_DVR_TO_SRC_MAC_PHYSICAL = 2  # the same for VLAN/flat networks, from br-ethX
INT_CANARY = 23           # one drop flow: if it is gone, OVS restarted or was flushed
INT_ARP_SPOOF = 24        # ARP SPA must be one of the port's addresses
INT_MAC_SPOOF = 25        # source MAC must be the port's
INT_TRANSIENT = 60        # final decision: DVR routing and gateway ARP, else NORMAL

LOCAL_VLAN_REG = "reg6"   # a VM's frames carry its local VLAN here (access ports are untagged)

# br-tun
TUN_LOCAL_SWITCHING = 0   # sort by in_port: from br-int, from each tunnel
TUN_DVR_PROCESS = 1       # DVR: routed frames leave with the chassis' DVR MAC as source
TUN_PATCH_LV_TO_TUN = 2   # from br-int: unicast, multicast/broadcast, broadcast ARP
TUN_GRE_TO_LV = 3         # tun_id -> local VLAN, GRE
TUN_VXLAN_TO_LV = 4       # tun_id -> local VLAN, VXLAN
TUN_DVR_NOT_LEARN = 9     # DVR: frames from a remote DVR MAC are not learned
TUN_LEARN_FROM_TUN = 10   # learn() the remote MAC into table 20, then to br-int
TUN_UCAST_TO_TUN = 20     # known unicast: l2pop (priority 2) and learned (priority 1)
TUN_ARP_RESPONDER = 21    # answer ARP for remote ports locally
TUN_FLOOD_TO_TUN = 22     # BUM replication to the tunnels of chassis on the network

TUN_TO_LV = {"gre": TUN_GRE_TO_LV, "vxlan": TUN_VXLAN_TO_LV}

# br-ethX (physical network bridges)
PHYS_LOCAL_SWITCHING = 0  # local VLAN -> physical VLAN on the way out; NORMAL otherwise

DEAD_VLAN = 4095          # the tag of a port that must pass no traffic
