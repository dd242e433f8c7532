-- The townships told of one case (downstream), for the live feed's filter.
SELECT township_id FROM case_notifications WHERE case_id = %(case_id)s
