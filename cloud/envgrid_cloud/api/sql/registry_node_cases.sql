-- How many cases name a node as their source.
SELECT count(*) AS cases FROM cases WHERE node_id = %(node_id)s
