-- A successful login forgets the account's failures (not the address's).
DELETE FROM login_failures WHERE key = %(key)s
