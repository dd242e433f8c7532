-- One runaway query (years of raw readings) must not hold a connection for ever.
SET statement_timeout = '30s'
