-- A site's category and the rule overrides it has now.
SELECT category, rule_overrides FROM sites WHERE id = %(site_id)s
