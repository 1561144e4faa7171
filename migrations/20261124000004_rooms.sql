-- Rooms, members and the events of their timelines.

create table room (
    -- '!opaque:server', where server owns the room: it orders and authorises its events.
    room_id text primary key,
    kind text not null check (kind in ('direct', 'group')),
    name text,
    topic text,
    -- Direct rooms: the two user ids, sorted and joined by a space. One room per pair.
    direct_key text unique,
    creator text not null,
    -- The seq of the newest event; the next one gets last_seq + 1 (the row lock orders sends).
    last_seq bigint not null default 0,
    last_event_at timestamptz not null default now(),
    created_at timestamptz not null default now(),
    check ((kind = 'direct') = (direct_key is not null))
);

create table room_member (
    room_id text not null references room (room_id) on delete cascade,
    user_id text not null,
    role text not null check (role in ('owner', 'admin', 'member')),
    membership text not null check (membership in ('join', 'leave')),
    -- The newest event this member has read.
    read_seq bigint not null default 0,
    -- When they (last) joined, to pass ownership to the longest-standing member.
    joined_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (room_id, user_id)
);

create index room_member_user on room_member (user_id) where membership = 'join';

create trigger room_member_updated_at before update on room_member
    for each row execute function set_updated_at();

-- A gap-free server-wide position over all events, for clients resuming a stream: taken under
-- the lock of this one row, so positions become visible in order.
create table stream_position (
    stream_position_id boolean primary key default true check (stream_position_id),
    last bigint not null
);

insert into stream_position (last) values (0);

create table event (
    event_id text primary key,
    room_id text not null references room (room_id) on delete cascade,
    seq bigint not null,
    stream_pos bigint not null unique,
    sender text not null,
    device_id text,
    -- The client's transaction id: a retry from the same device returns the first event.
    txn_id text,
    type text not null,
    content jsonb not null,
    origin_server_ts timestamptz not null default now(),
    unique (room_id, seq),
    unique (sender, device_id, txn_id)
);
