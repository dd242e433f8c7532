"""The migrator's own SQL, one statement per ``.sql`` file (migrations are in ``migrations``)."""

from envgrid_cloud.sqlfiles import loader

load = loader(__name__)
