-- Silences, the latest first. Within the caller's area (NULL: all): those of a site there, and
-- rule silences of a cell there, above the caller's own, or everywhere.
SELECT s.*, (s.lifted_at IS NULL AND s.until > %(now)s) AS active,
       (SELECT count(*) FROM notify_outbox o WHERE o.silence_id = s.id AND o.state = 'held')
       AS held
FROM notify_silences s
LEFT JOIN sites st ON st.id = s.site_id
WHERE (%(id)s::bigint IS NULL OR s.id = %(id)s)
  AND (%(active)s::boolean IS NULL OR (s.lifted_at IS NULL AND s.until > %(now)s) = %(active)s)
  AND (%(site_id)s::text IS NULL OR s.site_id = %(site_id)s)
  AND (%(area)s::text[] IS NULL
       OR st.cell_id = ANY(%(area)s)
       OR (s.site_id IS NULL
           AND (s.cell_id IS NULL OR s.cell_id = ANY(%(area)s)
                OR s.cell_id = ANY(cells_above(%(home)s)))))
ORDER BY s.created_at DESC, s.id DESC
LIMIT %(limit)s
