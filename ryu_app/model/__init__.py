"""The tenant network model: networks, subnets, ports and routers, kept durable.

Pure Python (no Ryu, no HTTP): the REST layer calls it, the Ryu shim feeds it
port bindings, and the pipeline computation reads it.
"""
