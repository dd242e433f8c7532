-- The same table into the scratch database (migrated by the same envgrid: same columns).
COPY {table} FROM STDIN (FORMAT binary)
