-- The grid (county → township → village → villager group), sites and nodes.
CREATE TABLE grid_cells (
    id         text PRIMARY KEY,
    level      text NOT NULL CHECK (level IN ('county', 'township', 'village', 'group')),
    name       text NOT NULL,
    parent_id  text REFERENCES grid_cells (id),
    CHECK ((level = 'county') = (parent_id IS NULL))
);
CREATE INDEX grid_cells_parent_idx ON grid_cells (parent_id);

CREATE TABLE sites (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    category    text NOT NULL CHECK (category IN (
                    'livestock_farm', 'water_body', 'refuse_point',
                    'industrial', 'road_section', 'farmland')),
    cell_id     text NOT NULL REFERENCES grid_cells (id),
    lon         double precision CHECK (lon BETWEEN -180 AND 180),
    lat         double precision CHECK (lat BETWEEN -90 AND 90),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sites_cell_idx ON sites (cell_id);

CREATE TABLE nodes (
    id                 text PRIMARY KEY,
    site_id            text NOT NULL REFERENCES sites (id),
    kind               text NOT NULL DEFAULT 'sensor' CHECK (kind IN ('sensor', 'camera')),
    report_interval_s  double precision NOT NULL DEFAULT 60 CHECK (report_interval_s > 0),
    status             text NOT NULL DEFAULT 'unknown'
                       CHECK (status IN ('unknown', 'online', 'offline')),
    status_at          timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX nodes_site_idx ON nodes (site_id);
