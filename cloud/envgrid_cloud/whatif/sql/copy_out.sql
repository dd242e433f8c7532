-- One registry table of the live database, whole, in an order its own references accept.
COPY (SELECT * FROM {table} ORDER BY {order}) TO STDOUT (FORMAT binary)
