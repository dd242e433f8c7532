-- The scratch database, gone (its connections too).
DROP DATABASE IF EXISTS {name} WITH (FORCE)
