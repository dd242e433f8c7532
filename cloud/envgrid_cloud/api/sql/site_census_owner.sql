-- The site that holds a census id, if any.
SELECT id FROM sites WHERE census_ref = %(census_ref)s
