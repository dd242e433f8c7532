-- One case with its site's cell, locked: two people cannot make conflicting moves at once.
SELECT c.*, s.cell_id AS site_cell_id, s.category AS site_category
FROM cases c JOIN sites s ON s.id = c.site_id
WHERE c.id = %(id)s
FOR UPDATE OF c
