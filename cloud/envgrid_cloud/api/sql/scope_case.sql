-- Whether a case is seen within an area: its site is there, or a township there was told of it
-- (downstream). NULL area: everywhere.
SELECT 1 AS found FROM cases c JOIN sites s ON s.id = c.site_id
WHERE c.id = %(case_id)s
  AND (%(area)s::text[] IS NULL
       OR s.cell_id = ANY(%(area)s)
       OR EXISTS (SELECT 1 FROM case_notifications n
                  WHERE n.case_id = c.id AND n.township_id = ANY(%(area)s)))
