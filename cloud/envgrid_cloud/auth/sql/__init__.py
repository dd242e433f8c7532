"""The account commands' own SQL, one statement per ``.sql`` file (they share the API's too)."""

from envgrid_cloud.sqlfiles import loader

load = loader(__name__)
