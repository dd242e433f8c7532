"""The HJ 212 TCP listener: data-acquisition units (数采仪) join the gateway as they are.

One module per job: ``adapter`` (the server on its thread), ``connection`` (one TCP
connection and its bounds), ``session`` (its frames: checked, matched, forwarded, answered),
``hub`` (what connections share), ``devices`` (the MN table), ``mapping`` (uploads into
readings), ``liveness`` (node online/offline), ``pending`` (unregistered MNs). docs/hj212.md.
"""

from envgrid_gateway.adapters.hj212.adapter import Hj212Adapter, parse_listen
from envgrid_gateway.adapters.hj212.devices import Device, DeviceTable

__all__ = ["Device", "DeviceTable", "Hj212Adapter", "parse_listen"]
