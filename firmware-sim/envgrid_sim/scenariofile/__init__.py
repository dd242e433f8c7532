"""Scenario files: a township or county, its nodes and a timeline of incidents, in YAML."""
