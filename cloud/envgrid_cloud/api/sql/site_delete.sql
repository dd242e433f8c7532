-- Delete a site (its uses are checked first); its downstream links and rule state go with it.
DELETE FROM sites WHERE id = %(site_id)s RETURNING id
