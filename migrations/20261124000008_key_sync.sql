-- Device-list changes for the WebSocket's key-state sync. Each change takes a position from
-- the same server-wide stream as events (`stream_position`), so a client resumes both with one
-- `since`. A row without a recipient goes to everyone who shares a room with the user (and the
-- user's own devices); a row with one goes to that user only.
create table device_list_change (
    stream_pos bigint not null,
    user_id text not null,
    recipient text,
    kind text not null check (kind in ('changed', 'left')),
    created_at timestamptz not null default now()
);

create index device_list_change_pos on device_list_change (stream_pos);
create index device_list_change_recipient on device_list_change (recipient, stream_pos)
    where recipient is not null;
