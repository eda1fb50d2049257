-- Codes tried against one login challenge: a few, then it is spent.
ALTER TABLE login_challenges ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
