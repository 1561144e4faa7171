-- Rooms across servers: the owner fans its rooms' events out through the outbox; other servers
-- keep replicas in the same tables (`room`, `room_member`, `event`, with the owner's event ids
-- and seqs). A member's send in a room of another server waits here until the owner's event
-- comes back.

-- A send queued for the room's owner: the primary key makes a retry of the same send queue
-- nothing more. Deleted when the owner's event for it arrives, or when the owner refuses it.
create table room_pending_send (
    sender text not null,
    device_id text not null,
    txn_id text not null,
    room_id text not null references room (room_id) on delete cascade,
    created_at timestamptz not null default now(),
    primary key (sender, device_id, txn_id)
);

-- Typing, receipts and presence are best effort: dropped rather than sent late.
alter table federation_outbox add column expires_at timestamptz;
