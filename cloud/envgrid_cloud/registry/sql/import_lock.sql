-- The import reads the registry once and writes from that picture: other writers wait.
LOCK TABLE grid_cells, sites, site_downstream IN SHARE ROW EXCLUSIVE MODE
