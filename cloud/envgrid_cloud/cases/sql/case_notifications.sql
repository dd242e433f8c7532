-- Townships told of a case that is not theirs.
SELECT township_id, reason, at FROM case_notifications WHERE case_id = %(case_id)s
ORDER BY at, township_id
