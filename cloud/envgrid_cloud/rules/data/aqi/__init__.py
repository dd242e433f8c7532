"""Versioned AQI breakpoint tables (envgrid_cloud.rules.aqi loads them)."""
