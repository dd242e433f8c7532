"""The cloud's MQTT ingest: readings, statuses and dead letters into PostgreSQL, acked on commit.

The network thread (paho) decodes each message into a :class:`~.batch.Batch`; a writer thread
commits batches, one transaction each, and only then acknowledges their messages, in the order
they arrived. Start one with :func:`.worker.run_worker` or :class:`.worker.IngestWorker`.
"""
