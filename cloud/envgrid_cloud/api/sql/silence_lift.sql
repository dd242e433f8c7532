-- Lift a silence still in force or to come; no row if it had ended or was lifted already.
UPDATE notify_silences SET lifted_at = %(now)s, lifted_by = %(by)s
WHERE id = %(id)s AND lifted_at IS NULL AND until > %(now)s
RETURNING id
