-- Device certificates that renew themselves: which certificate a renewal
-- replaced, when the new one was first used (or until when the old one is
-- still accepted), the key each certificate holds (a renewal must bring a
-- new one), the device it was issued for, and users whose renewal an admin
-- has turned off.

ALTER TABLE certificates ADD COLUMN key_sha256 BLOB;
ALTER TABLE certificates ADD COLUMN device TEXT;
ALTER TABLE certificates ADD COLUMN renewed_from TEXT REFERENCES certificates(serial);
ALTER TABLE certificates ADD COLUMN first_used_at INTEGER;
-- Set on the replaced certificate: it is revoked as superseded at this
-- time at the latest (the renewal's grace period).
ALTER TABLE certificates ADD COLUMN superseded_after INTEGER;
CREATE INDEX certificates_key ON certificates(key_sha256);
CREATE INDEX certificates_renewed_from ON certificates(renewed_from);
CREATE INDEX certificates_superseded_after ON certificates(superseded_after);

ALTER TABLE users ADD COLUMN renewal_disabled INTEGER NOT NULL DEFAULT 0 CHECK (renewal_disabled IN (0, 1));
