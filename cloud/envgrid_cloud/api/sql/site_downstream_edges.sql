-- Every downstream link, to look for water flowing in a circle.
SELECT site_id, downstream_id FROM site_downstream
