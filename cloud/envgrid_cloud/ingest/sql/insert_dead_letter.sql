-- The fingerprint identifies a message, so a redelivered dead letter is stored once.
INSERT INTO dead_letters (fingerprint, source, topic, reason, payload, encoding, received_at)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (fingerprint) DO NOTHING
