-- JPEG evidence of camera incidents (envgrid/v1/nodes/{node}/snapshots/{event_id}): one per
-- (node, event). A camera sends a better one when its evidence improves (an 'update'): it
-- replaces the one stored. The digests of replaced ones are kept (a few), so that a late
-- redelivered copy of an older snapshot never replaces a newer one.
CREATE TABLE snapshots (
    node_id      text NOT NULL,
    event_id     text NOT NULL,
    jpeg         bytea NOT NULL,
    size         integer NOT NULL CHECK (size >= 0),
    digest       bytea NOT NULL,                      -- sha256 of jpeg
    earlier      bytea[] NOT NULL DEFAULT '{}',        -- digests of replaced ones, newest first
    versions     integer NOT NULL DEFAULT 1,
    received_at  timestamptz NOT NULL,                 -- when this version reached the cloud
    topic        text NOT NULL,
    PRIMARY KEY (node_id, event_id)
);
ALTER TABLE snapshots ALTER COLUMN jpeg SET STORAGE EXTERNAL;  -- JPEG does not compress
CREATE INDEX snapshots_received_idx ON snapshots (received_at);

-- Which snapshots a case shows, linked when read (a snapshot may come before or after its
-- detection): a case of a detection rule (its detail has an event_id) shows the snapshots of
-- the incidents of its site's nodes that breached while it was open, i.e. whose new or update
-- messages, confident enough for the rule, fall between its first and latest breach.
CREATE VIEW case_snapshots AS
SELECT c.id AS case_id, s.node_id, s.event_id
FROM cases c
JOIN nodes n ON n.site_id = c.site_id
JOIN snapshots s ON s.node_id = n.id
WHERE c.detail ? 'event_id'
  AND EXISTS (
      SELECT 1 FROM detections d
      WHERE d.node_id = s.node_id AND d.event_id = s.event_id AND d.phase <> 'end'
        AND d.ts BETWEEN c.first_seen_at AND c.last_seen_at
        AND d.confidence >= coalesce((c.detail ->> 'min_confidence')::double precision, 0));
