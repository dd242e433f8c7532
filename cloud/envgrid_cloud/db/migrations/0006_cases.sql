-- Cases: every problem at a site, driven from raised to closed (闭环), each one a file (一案一档).
CREATE TABLE cases (
    id                 bigserial PRIMARY KEY,
    site_id            text NOT NULL REFERENCES sites (id),
    rule_id            text NOT NULL,
    township_id        text NOT NULL REFERENCES grid_cells (id),
    node_id            text REFERENCES nodes (id),
    metric             text,
    severity           text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    state              text NOT NULL DEFAULT 'raised' CHECK (state IN (
                           'raised', 'dispatched', 'acknowledged', 'inspecting', 'rectifying',
                           'reported', 'closed', 'dismissed')),
    title              text NOT NULL,
    detail             jsonb NOT NULL DEFAULT '{}'::jsonb,
    source             text NOT NULL DEFAULT 'rule' CHECK (source IN ('rule', 'officer')),
    first_seen_at      timestamptz NOT NULL,  -- source time of the first breach
    last_seen_at       timestamptz NOT NULL,  -- source time of the latest one
    raised_at          timestamptz NOT NULL,
    occurrences        integer NOT NULL DEFAULT 1,
    first_value        double precision,
    last_value         double precision,
    peak_value         double precision,
    cleared_at         timestamptz,           -- the condition cleared; a person still closes
    assignee_id        text REFERENCES officers (id),
    assigned_cell_id   text REFERENCES grid_cells (id),
    escalation_level   integer NOT NULL DEFAULT 0,
    ack_due_at         timestamptz,
    close_due_at       timestamptz,
    closed_at          timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
-- One open case per (site, rule): repeats update it.
CREATE UNIQUE INDEX cases_one_open_idx ON cases (site_id, rule_id)
    WHERE state NOT IN ('closed', 'dismissed');
CREATE INDEX cases_township_idx ON cases (township_id, raised_at DESC);
CREATE INDEX cases_due_idx ON cases (ack_due_at, close_due_at)
    WHERE state NOT IN ('closed', 'dismissed');

-- Every step of a case: who, when, what, notes and attachments.
CREATE TABLE case_events (
    id           bigserial PRIMARY KEY,
    case_id      bigint NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    at           timestamptz NOT NULL,
    actor        text NOT NULL,             -- an officer id, or 'system'
    action       text NOT NULL,
    from_state   text,
    to_state     text,
    notes        text,
    attachments  jsonb NOT NULL DEFAULT '[]'::jsonb,
    detail       jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX case_events_case_idx ON case_events (case_id, id);

-- Townships told about a case that is not theirs (downstream of a river case).
CREATE TABLE case_notifications (
    case_id      bigint NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    township_id  text NOT NULL REFERENCES grid_cells (id),
    reason       text NOT NULL,
    at           timestamptz NOT NULL,
    PRIMARY KEY (case_id, township_id)
);

-- What a rule remembers between readings (a breach started at, a window of values, …), per
-- site, rule and node; rows are locked while a batch evaluates, so workers agree.
CREATE TABLE rule_state (
    site_id     text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    rule_id     text NOT NULL,
    node_id     text NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    state       jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, rule_id, node_id)
);

-- Detections from camera nodes (smoke, flame): one row per message of an incident.
CREATE TABLE detections (
    node_id      text NOT NULL,
    ts           timestamptz NOT NULL,
    seq          bigint NOT NULL,
    event_id     text NOT NULL,
    kind         text NOT NULL,
    phase        text NOT NULL,
    confidence   double precision NOT NULL,
    body         jsonb NOT NULL,
    historical   boolean NOT NULL DEFAULT false,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (node_id, ts, seq)
);
CREATE INDEX detections_event_idx ON detections (node_id, event_id);
