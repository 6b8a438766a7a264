"""The physical model: hypervisors (chassis), their bridges, ports and links, in networkx."""
