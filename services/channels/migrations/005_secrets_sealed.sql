-- Channel credentials are encrypted at rest (libs/core/secretbox.py, AES-256-GCM with a key id): every stored
-- secret reads sb1:<key id>:<data>. The constraint is NOT VALID so it can be added over rows written before: it
-- refuses every plaintext write from now on, and the service, when it starts, encrypts the older rows (and
-- re-encrypts those of keys that are no longer current), then validates it (adapters/postgres.py,
-- ChannelRepository.seal_stored_secrets).
ALTER TABLE channels.channel ADD CONSTRAINT channel_secrets_sealed CHECK (
    (app_secret IS NULL OR app_secret LIKE 'sb1:%')
    AND (verify_token IS NULL OR verify_token LIKE 'sb1:%')
    AND (access_token IS NULL OR access_token LIKE 'sb1:%')
    AND (auth_token IS NULL OR auth_token LIKE 'sb1:%')
    AND (smtp_password IS NULL OR smtp_password LIKE 'sb1:%')
) NOT VALID;
