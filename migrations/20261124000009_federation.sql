-- Federation: the durable outbox of EDUs per destination server, each destination's delivery
-- state, and the transactions received from other servers (the exactly-once record).

-- EDUs waiting for one destination, sent in id order. A row is deleted once the destination
-- has acknowledged (2xx) the transaction that carried it.
create table federation_outbox (
    federation_outbox_id bigint generated always as identity primary key,
    destination text not null,
    edu_type text not null,
    -- The EDU content as sent (JSON text, kept byte for byte).
    content text not null,
    created_at timestamptz not null default now()
);

create index federation_outbox_destination on federation_outbox (destination, federation_outbox_id);

-- Delivery state per destination. `in_flight_up_to` pins the batch of the transaction being
-- sent (outbox ids up to it), so that a retry sends the same EDUs under the same id.
-- `leased_until`: a process is sending to this destination until then (one transaction in
-- flight per destination across processes; a crashed process's lease runs out).
create table federation_destination (
    destination text primary key,
    failure_count integer not null default 0,
    retry_at timestamptz,
    in_flight_up_to bigint,
    leased_until timestamptz,
    leased_by uuid,
    updated_at timestamptz not null default now()
);

-- Transactions received, with the first answer given: the primary key makes a transaction
-- apply at most once per origin, and a repeat gets the same answer.
create table federation_inbound_txn (
    origin text not null,
    txn_id text not null,
    response text not null,
    received_at timestamptz not null default now(),
    primary key (origin, txn_id)
);
