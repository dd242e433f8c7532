-- One channel as stored (with its secret), locked for a change.
SELECT * FROM notify_channels WHERE id = %(id)s FOR UPDATE
