-- Every node with what its site's rules depend on.
SELECT n.id, n.site_id, n.report_interval_s, s.category, s.target_class, s.water_type, s.rule_overrides
FROM nodes AS n
JOIN sites AS s ON s.id = n.site_id
