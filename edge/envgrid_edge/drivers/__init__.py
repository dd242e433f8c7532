"""Sensor drivers behind one interface: :class:`Driver` (``read`` → :class:`Sample`)."""

from __future__ import annotations

from envgrid_edge.drivers.base import Driver, DriverError, Sample
from envgrid_edge.drivers.modbus import ModbusConfig, ModbusDriver
from envgrid_edge.drivers.simulated import SimulatedConfig, SimulatedDriver

__all__ = ["Driver", "DriverError", "Sample", "open_driver"]


def open_driver(config: SimulatedConfig | ModbusConfig, node_id: str) -> Driver:
    """The driver a node's ``driver:`` section describes."""
    if isinstance(config, ModbusConfig):
        return ModbusDriver(config)
    return SimulatedDriver(config, node_id)
