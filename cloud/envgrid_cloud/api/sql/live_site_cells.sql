-- The grid cell of each site, for the live feed's filter.
SELECT id, cell_id FROM sites
