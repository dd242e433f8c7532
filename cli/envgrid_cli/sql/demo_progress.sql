-- What the demo prints while it runs: sites, sites reporting, readings, dead letters.
SELECT (SELECT count(*) FROM sites),
       (SELECT count(DISTINCT n.site_id) FROM latest_values l JOIN nodes n ON n.id = l.node_id),
       (SELECT count(*) FROM readings),
       (SELECT count(*) FROM dead_letters)
