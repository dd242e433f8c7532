-- Whether each ingest worker is getting anywhere: its state ("stalled" when it holds messages
-- and commits nothing, "stopped" after a clean stop), why, how much it holds, how often it has
-- had to reconnect, and when it last received a message.
ALTER TABLE ingest_workers
    ADD COLUMN state            text NOT NULL DEFAULT 'running'
                                CHECK (state IN ('running', 'stalled', 'stopped')),
    ADD COLUMN reason           text,
    ADD COLUMN held             bigint NOT NULL DEFAULT 0,
    ADD COLUMN reconnects       bigint NOT NULL DEFAULT 0,
    ADD COLUMN last_received_at timestamptz;
