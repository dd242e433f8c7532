-- What the census and the grid office know about a site, and who looks after each cell.
ALTER TABLE sites
    ADD COLUMN production_process      text,
    ADD COLUMN treatment_requirements  text,
    -- Water bodies: the GB 3838-2002 class the section must meet, and river or lake (total
    -- phosphorus has lower limits for lakes and reservoirs; total nitrogen applies only there).
    ADD COLUMN target_class            text CHECK (target_class IN ('I', 'II', 'III', 'IV', 'V')),
    ADD COLUMN water_type              text CHECK (water_type IN ('river', 'lake')),
    -- Per-site changes to its category's rule pack: {"rule id": {"above": 30, ...}}.
    ADD COLUMN rule_overrides          jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- The census list's own id for the site, if it had one (re-imports match on it).
    ADD COLUMN census_ref              text UNIQUE;

-- Water flows site → downstream site (often across townships): a case on one notifies the
-- townships downstream (上下游联防联控).
CREATE TABLE site_downstream (
    site_id        text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    downstream_id  text NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    PRIMARY KEY (site_id, downstream_id),
    CHECK (site_id <> downstream_id)
);

-- People on duty. A grid officer (网格员) works the cases of their cell; a reviewer (审核员)
-- dispatches, verifies and closes (销号) or dismisses them; an admin manages the registry.
CREATE TABLE officers (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    role        text NOT NULL CHECK (role IN ('grid_officer', 'reviewer', 'admin')),
    cell_id     text NOT NULL REFERENCES grid_cells (id),
    phone       text,
    email       text,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX officers_cell_idx ON officers (cell_id) WHERE active;

-- The newest live (not backfilled) reading of a node: what "no data" is measured against.
ALTER TABLE nodes ADD COLUMN last_live_at timestamptz;
