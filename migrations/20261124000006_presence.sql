-- Presence: a user is online while one of their devices holds a WebSocket on a live process.

-- Each `parley serve` process beats here; connections of a process that stopped beating (it
-- crashed) are swept away with it.
create table process_heartbeat (
    process_id uuid primary key,
    seen_at timestamptz not null default now()
);

create table ws_connection (
    connection_id uuid primary key,
    user_id text not null,
    process_id uuid not null references process_heartbeat (process_id) on delete cascade,
    opened_at timestamptz not null default now()
);

create index ws_connection_user on ws_connection (user_id);

create table presence (
    user_id text primary key,
    online boolean not null,
    last_seen_at timestamptz not null default now()
);
