"""The what-if run's SQL, one statement per ``.sql`` file."""

from envgrid_cloud.sqlfiles import loader

load = loader(__name__)
