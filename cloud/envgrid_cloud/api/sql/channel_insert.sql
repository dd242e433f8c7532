-- A new notification channel; its id.
INSERT INTO notify_channels (name, kind, target, secret, cell_id, user_id, min_severity, enabled,
                             rate_per_minute)
VALUES (%(name)s, %(kind)s, %(target)s, %(secret)s, %(cell_id)s, %(user_id)s, %(min_severity)s,
        %(enabled)s, %(rate_per_minute)s)
RETURNING id
