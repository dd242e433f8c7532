-- One attachment of one step of a case.
SELECT attachments -> %(index)s::int AS attachment
FROM case_events
WHERE id = %(event_id)s AND case_id = %(case_id)s
