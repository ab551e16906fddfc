-- Single sign-on (OpenID Connect). A user created by an SSO login is bound to the identity
-- provider's (issuer, subject) pair and has no usable password (password_hash is empty and
-- password login refuses such users). Group memberships record where they came from:
-- 'manual' (an administrator) or 'sso' (the groups claim of the user's last SSO login, replaced
-- at every SSO login); manual memberships are never touched by SSO logins.

ALTER TABLE users ADD COLUMN sso_issuer TEXT;
ALTER TABLE users ADD COLUMN sso_subject TEXT;

CREATE UNIQUE INDEX users_sso_identity ON users (sso_issuer, sso_subject);

ALTER TABLE group_members ADD COLUMN source TEXT NOT NULL DEFAULT 'manual';

-- Deleting an SSO user leaves this mark so that the next SSO login does not silently recreate
-- the account; `enable` of that user name by an administrator removes it.
CREATE TABLE sso_deleted (
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    name       TEXT NOT NULL,
    deleted_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
