-- Notifications that reach phones: channels (WeCom and DingTalk group robots, e-mail), an outbox
-- written in the case change's own transaction, every delivery attempt with its answer, quiet
-- periods (silences) and the reminders sent to an assignee who has not acknowledged.

-- The cells at and above a cell (the cell itself first): the areas that cover it.
CREATE FUNCTION cells_above(root text) RETURNS text[] LANGUAGE sql STABLE AS $$
    WITH RECURSIVE up AS (
        SELECT id, parent_id, 0 AS depth FROM grid_cells WHERE id = root
        UNION ALL
        SELECT c.id, c.parent_id, up.depth + 1 FROM grid_cells c JOIN up ON c.id = up.parent_id
    )
    SELECT coalesce(array_agg(id ORDER BY depth), '{}') FROM up
$$;

-- Where notifications go. A group channel (user_id NULL) hears of the cases of its area (its
-- cell and every cell below it; NULL: everywhere) at or above its severity; a personal channel
-- (user_id set) hears of the cases its user is given.
CREATE TABLE notify_channels (
    id                    bigserial PRIMARY KEY,
    name                  text NOT NULL,
    kind                  text NOT NULL CHECK (kind IN ('wecom', 'dingtalk', 'email')),
    target                text NOT NULL,          -- the robot's webhook URL, or an e-mail address
    secret                text,                   -- DingTalk's signing secret (加签), if set
    cell_id               text REFERENCES grid_cells (id),
    min_severity          text NOT NULL DEFAULT 'low'
                          CHECK (min_severity IN ('low', 'medium', 'high', 'critical')),
    user_id               text REFERENCES users (id) ON DELETE CASCADE,
    enabled               boolean NOT NULL DEFAULT true,
    rate_per_minute       integer NOT NULL DEFAULT 20 CHECK (rate_per_minute BETWEEN 1 AND 600),
    -- Health: failures in a row, failing once there were enough of them, when to try again.
    consecutive_failures  integer NOT NULL DEFAULT 0,
    failing_since         timestamptz,
    retry_at              timestamptz,
    last_error            text,
    last_attempt_at       timestamptz,
    last_success_at       timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CHECK (user_id IS NULL OR cell_id IS NULL)
);
CREATE INDEX notify_channels_user_idx ON notify_channels (user_id) WHERE user_id IS NOT NULL;

-- Quiet periods (静默): a site's or a rule's notifications are held from starts_at until
-- `until` (or until lifted); cases are still raised and recorded. A silence of a rule applies
-- within cell_id's area (NULL: everywhere).
CREATE TABLE notify_silences (
    id          bigserial PRIMARY KEY,
    site_id     text REFERENCES sites (id) ON DELETE CASCADE,
    rule_id     text,
    cell_id     text REFERENCES grid_cells (id) ON DELETE CASCADE,
    reason      text NOT NULL,
    starts_at   timestamptz NOT NULL,
    until       timestamptz NOT NULL,
    set_by      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    lifted_at   timestamptz,
    lifted_by   text,
    CHECK (site_id IS NOT NULL OR rule_id IS NOT NULL),
    CHECK (until > starts_at)
);
CREATE INDEX notify_silences_active_idx ON notify_silences (until) WHERE lifted_at IS NULL;

-- The silence holding a (site, rule)'s notifications at a time, if any.
CREATE FUNCTION notify_silence_for(p_site text, p_rule text, p_at timestamptz)
RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT s.id FROM notify_silences s
    WHERE s.lifted_at IS NULL AND s.starts_at <= p_at AND s.until > p_at
      AND (s.site_id IS NULL OR s.site_id = p_site)
      AND (s.rule_id IS NULL OR s.rule_id = p_rule)
      AND (s.cell_id IS NULL
           OR s.cell_id = ANY (cells_above((SELECT cell_id FROM sites WHERE id = p_site))))
    ORDER BY s.until DESC, s.id
    LIMIT 1
$$;

-- One message per delivery attempt: what was sent, to which channel, for which cases, and the
-- answer (HTTP status and body, or the SMTP reply).
CREATE TABLE notify_attempts (
    id           bigserial PRIMARY KEY,
    channel_id   bigint NOT NULL REFERENCES notify_channels (id) ON DELETE CASCADE,
    at           timestamptz NOT NULL,
    case_ids     bigint[] NOT NULL,
    outbox_ids   bigint[] NOT NULL,
    digest       boolean NOT NULL,          -- several cases in one message
    request      text NOT NULL,             -- the JSON body, or the e-mail (no secrets)
    ok           boolean NOT NULL,
    status       integer,                   -- HTTP status, or the SMTP reply code
    response     text,                      -- the answer's body, or the SMTP reply
    error        text,                      -- why it failed, in words
    duration_ms  integer NOT NULL
);
CREATE INDEX notify_attempts_channel_idx ON notify_attempts (channel_id, at DESC);
CREATE INDEX notify_attempts_cases_idx ON notify_attempts USING gin (case_ids);

-- What is to be told, to which channel: written with the case change, in its transaction;
-- delivered at least once.
CREATE TABLE notify_outbox (
    id          bigserial PRIMARY KEY,
    case_id     bigint NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    channel_id  bigint NOT NULL REFERENCES notify_channels (id) ON DELETE CASCADE,
    event       text NOT NULL,              -- raised, escalated, reminder, …
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL,
    due_at      timestamptz NOT NULL,
    state       text NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'held', 'sent', 'dropped')),
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text,
    sent_at     timestamptz,
    attempt_id  bigint REFERENCES notify_attempts (id) ON DELETE SET NULL,  -- the message
    silence_id  bigint REFERENCES notify_silences (id) ON DELETE SET NULL   -- held by
);
CREATE INDEX notify_outbox_pending_idx ON notify_outbox (channel_id, due_at)
    WHERE state = 'pending';
CREATE INDEX notify_outbox_held_idx ON notify_outbox (case_id) WHERE state = 'held';
CREATE INDEX notify_outbox_case_idx ON notify_outbox (case_id, id);

-- The last reminder sent to a case's assignee (催办), so the next comes N minutes later.
CREATE TABLE notify_reminders (
    case_id      bigint PRIMARY KEY REFERENCES cases (id) ON DELETE CASCADE,
    assignee_id  text,
    last_at      timestamptz NOT NULL,
    sent         integer NOT NULL DEFAULT 0
);
