"""The cloud: MQTT ingest into PostgreSQL/TimescaleDB, and the HTTP API over it."""
