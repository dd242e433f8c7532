-- Accounts: the officers on duty become the users who sign in (login name, Argon2id password
-- hash); browsers hold sessions, machines hold named API tokens; failed logins are counted
-- for throttling; every write, case action, login and token use goes to an append-only log.
ALTER TABLE officers RENAME TO users;
ALTER INDEX officers_cell_idx RENAME TO users_cell_idx;
ALTER TABLE users
    ADD COLUMN login          text,
    ADD COLUMN password_hash  text,
    ADD COLUMN locale         text NOT NULL DEFAULT 'zh-CN' CHECK (locale IN ('zh-CN', 'en')),
    ADD COLUMN updated_at     timestamptz NOT NULL DEFAULT now();
-- Existing officers sign in with their id once an admin has set a password for them.
UPDATE users SET login = id;
ALTER TABLE users ALTER COLUMN login SET NOT NULL;
-- An administrator may belong to no cell: the first one is added before any grid exists.
ALTER TABLE users ALTER COLUMN cell_id DROP NOT NULL;
ALTER TABLE users ADD CONSTRAINT users_cell_unless_admin
    CHECK (cell_id IS NOT NULL OR role = 'admin');
CREATE UNIQUE INDEX users_login_idx ON users (lower(login));

-- A user's area: their cell and every cell below it (what they see and act on).
CREATE FUNCTION cells_within(root text) RETURNS text[] LANGUAGE sql STABLE AS $$
    WITH RECURSIVE area AS (
        SELECT id FROM grid_cells WHERE id = root
        UNION ALL
        SELECT c.id FROM grid_cells c JOIN area a ON c.parent_id = a.id
    )
    SELECT coalesce(array_agg(id), '{}') FROM area
$$;

-- A browser's session: the cookie holds a random token, the table only its SHA-256.
CREATE TABLE sessions (
    token_hash    bytea PRIMARY KEY,
    user_id       text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token    text NOT NULL,
    address       text,
    user_agent    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

-- A machine's token: shown once when issued, kept as its SHA-256; revocable, may expire.
CREATE TABLE api_tokens (
    id                 bigserial PRIMARY KEY,
    user_id            text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name               text NOT NULL,
    token_hash         bytea NOT NULL UNIQUE,
    prefix             text NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    expires_at         timestamptz,
    revoked_at         timestamptz,
    last_used_at       timestamptz,
    last_used_address  text
);
CREATE UNIQUE INDEX api_tokens_live_name_idx ON api_tokens (user_id, name) WHERE revoked_at IS NULL;

-- Failed logins by key ('login:<name>' or 'address:<ip>'), for throttling.
CREATE TABLE login_failures (
    key        text NOT NULL,
    failed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_key_idx ON login_failures (key, failed_at);

-- Who did what, when, from where. Rows are only ever added.
CREATE TABLE audit_log (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text NOT NULL,          -- a user id, 'anonymous', or 'cli:<os user>'
    via       text NOT NULL,          -- session, token, cli, or none
    token_id  bigint,
    address   text,
    action    text NOT NULL,          -- e.g. 'POST /api/v1/cases/{case_id}/actions', 'login'
    target    text,
    outcome   text NOT NULL,          -- an HTTP status, or ok / refused
    detail    jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor, at DESC);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % refused', TG_OP;
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- A dead letter's node, read off its topic (…/v1/nodes/<node>/…), so that people see the
-- refusals of their own nodes only; one with no node in its topic is for administrators.
ALTER TABLE dead_letters
    ADD COLUMN node_id text GENERATED ALWAYS AS (substring(topic from '/v1/nodes/([^/]+)/')) STORED;
CREATE INDEX dead_letters_node_idx ON dead_letters (node_id, stored_at DESC);
