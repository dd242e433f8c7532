-- One entry of the audit log.
INSERT INTO audit_log (actor, via, token_id, address, action, target, outcome, detail)
VALUES (%(actor)s, %(via)s, %(token_id)s, %(address)s, %(action)s, %(target)s, %(outcome)s,
        %(detail)s)
