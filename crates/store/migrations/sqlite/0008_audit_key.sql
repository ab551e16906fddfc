-- The audit key that signs this database's checkpoints (hex Ed25519 public key). The first
-- wicketd to start claims it; a replica with another key is refused, since its checkpoints
-- would not verify under the key auditors pinned. `wicketd audit adopt-key` replaces it and
-- records the change in the chain (an `audit.key.adopt` event), for when the key is lost.

CREATE TABLE audit_key (
    id         BIGINT PRIMARY KEY NOT NULL,
    public_key TEXT NOT NULL
);
