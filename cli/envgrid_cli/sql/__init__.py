"""The command's own SQL (the demo's database and progress), one statement per ``.sql`` file."""

from envgrid_cloud.sqlfiles import loader

load = loader(__name__)
