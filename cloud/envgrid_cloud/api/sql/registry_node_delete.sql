-- Delete a node (its cases are checked first); its rule state goes with it.
DELETE FROM nodes WHERE id = %(node_id)s RETURNING id
