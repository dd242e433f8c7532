"""Servers the demo, tests and benchmarks start for themselves: Mosquitto and PostgreSQL."""
