-- What still refers to a grid cell: child cells, sites, users (active or not), cases.
SELECT (SELECT count(*) FROM grid_cells WHERE parent_id = %(cell_id)s) AS children,
       (SELECT count(*) FROM sites WHERE cell_id = %(cell_id)s) AS sites,
       (SELECT count(*) FROM users WHERE cell_id = %(cell_id)s) AS users,
       (SELECT count(*) FROM cases
        WHERE township_id = %(cell_id)s OR assigned_cell_id = %(cell_id)s)
     + (SELECT count(*) FROM case_notifications WHERE township_id = %(cell_id)s) AS cases
