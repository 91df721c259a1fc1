-- 008: the review desk's reviewers and their browser sessions (quill serve).
-- A reviewer logs in with a token printed once by `quill reviewer add`; only
-- its SHA-256 is kept.  A session is a cookie (kept as its SHA-256 too) with
-- its CSRF token and expiry; removing a reviewer removes their sessions.

CREATE TABLE reviewers (
    name       TEXT PRIMARY KEY,       -- normalised (txt_name_normalize)
    token_hash TEXT NOT NULL UNIQUE,   -- SHA-256 hex of the login token
    admin      INTEGER NOT NULL DEFAULT 0 CHECK (admin IN (0, 1)),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,       -- SHA-256 hex of the session cookie
    reviewer   TEXT NOT NULL REFERENCES reviewers(name) ON DELETE CASCADE,
    csrf       TEXT NOT NULL,
    expires_at INTEGER NOT NULL,       -- unix seconds
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
CREATE INDEX sessions_reviewer ON sessions(reviewer);
