-- A scratch database for a what-if run.
CREATE DATABASE {name}
