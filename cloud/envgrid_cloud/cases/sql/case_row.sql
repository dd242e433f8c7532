-- One case as stored.
SELECT * FROM cases WHERE id = %(id)s
