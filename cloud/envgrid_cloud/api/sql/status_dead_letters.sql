-- How many messages were refused, in all and lately.
SELECT count(*) AS total,
       count(*) FILTER (WHERE stored_at > now() - interval '1 hour') AS last_hour,
       max(stored_at) AS newest
FROM dead_letters
