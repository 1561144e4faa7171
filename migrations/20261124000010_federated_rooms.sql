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
    -- What was sent, so that the sender's device sees it as pending after a reload.
    type text not null,
    content jsonb not null,
    created_at timestamptz not null default now(),
    primary key (sender, device_id, txn_id)
);

-- Typing, receipts and presence are best effort: dropped rather than sent late.
alter table federation_outbox add column expires_at timestamptz;

-- Request signatures seen, until they expire: with the in-memory guard of each process, a
-- request replayed to another process of the same server is refused too.
create table federation_seen_signature (
    signature bytea primary key,
    expires_at timestamptz not null
);

create index federation_seen_signature_expiry on federation_seen_signature (expires_at);

-- Old transaction records are pruned (see the outbox worker): a sender retries a transaction
-- only until it is acknowledged.
create index federation_inbound_txn_received on federation_inbound_txn (received_at);
