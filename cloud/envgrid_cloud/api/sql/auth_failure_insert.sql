-- One failed login, counted under each of its keys; old ones are forgotten on the way.
WITH forget AS (
    DELETE FROM login_failures WHERE failed_at < now() - interval '1 day'
)
INSERT INTO login_failures (key) SELECT unnest(%(keys)s::text[])
