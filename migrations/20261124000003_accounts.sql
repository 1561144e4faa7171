-- Accounts, emailed tokens, sessions with rotating refresh tokens, and login throttling.

create extension if not exists citext;

create table account (
    account_id uuid primary key,
    -- '@localpart:server_name', the identifier everywhere else.
    user_id text not null unique,
    localpart text not null unique check (localpart ~ '^[a-z0-9._=-]{1,64}$'),
    -- Unique whatever the case: one address, one account.
    email citext not null unique,
    full_name text not null,
    display_name text,
    password_hash text not null,
    email_verified_at timestamptz,
    disabled_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create trigger account_updated_at before update on account
    for each row execute function set_updated_at();

-- Single-use tokens sent by mail. Only a SHA-256 hash is stored, so a database leak yields no
-- usable link.
create table email_token (
    token_hash bytea primary key,
    account_id uuid not null references account (account_id) on delete cascade,
    purpose text not null check (purpose in ('verify_email', 'reset_password', 'change_email')),
    -- The address the link was sent to (the new one for a change of address).
    email citext not null,
    expires_at timestamptz not null,
    used_at timestamptz,
    created_at timestamptz not null default now()
);

create index email_token_account on email_token (account_id, purpose);

create table session (
    session_id uuid primary key,
    account_id uuid not null references account (account_id) on delete cascade,
    device_id text not null,
    device_name text,
    ip text,
    user_agent text,
    created_at timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    -- The absolute end of the session's refresh tokens, however often they rotate.
    expires_at timestamptz not null,
    ended_at timestamptz,
    end_reason text
);

create index session_account on session (account_id) where ended_at is null;

-- Each refresh token is used once: using it sets rotated_at and mints its successor. Using a
-- rotated token again (after a short grace window) means it was stolen: the session ends.
create table refresh_token (
    token_hash bytea primary key,
    session_id uuid not null references session (session_id) on delete cascade,
    created_at timestamptz not null default now(),
    rotated_at timestamptz
);

create index refresh_token_session on refresh_token (session_id);

-- Failed sign-ins per identifier as typed (so that an unknown account behaves exactly like a
-- known one) and per client IP. A lockout always expires by itself.
create table login_throttle (
    throttle_key text primary key,
    failures integer not null default 0,
    last_failure_at timestamptz not null default now(),
    locked_until timestamptz
);
