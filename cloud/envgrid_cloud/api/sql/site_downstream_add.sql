-- Link a site to the sites its water flows on to.
INSERT INTO site_downstream (site_id, downstream_id)
SELECT %(site_id)s, unnest(%(downstream)s::text[])
