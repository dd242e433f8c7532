-- Failed logins within the window, per key, and when the oldest of them falls out of it.
SELECT key, count(*) AS failures, min(failed_at) AS oldest
FROM login_failures
WHERE key = ANY(%(keys)s) AND failed_at > now() - make_interval(secs => %(window_s)s)
GROUP BY key
