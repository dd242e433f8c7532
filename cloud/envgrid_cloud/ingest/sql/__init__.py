"""The ingest's SQL, one statement per ``.sql`` file (a package, so that the wheel ships them)."""
