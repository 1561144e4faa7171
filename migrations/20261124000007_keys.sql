-- End-to-end encryption key service: devices, device keys, one-time and fallback keys,
-- cross-signing keys, extra signatures, and to-device messages waiting for their device.
-- Key objects are stored as the JSON text the client uploaded, so that they are returned
-- exactly as signed.

-- One row per (account, device) once a session or a key upload names the device.
create table device (
    account_id uuid not null references account (account_id) on delete cascade,
    device_id text not null,
    display_name text,
    created_at timestamptz not null default now(),
    primary key (account_id, device_id)
);

insert into device (account_id, device_id, display_name, created_at)
select distinct on (account_id, device_id) account_id, device_id, device_name, created_at
from session
order by account_id, device_id, created_at;

-- Every new session makes sure its device has a row.
create function session_device() returns trigger language plpgsql as $$
begin
    insert into device (account_id, device_id, display_name)
    values (new.account_id, new.device_id, new.device_name)
    on conflict (account_id, device_id) do nothing;
    return new;
end;
$$;

create trigger session_device after insert on session
    for each row execute function session_device();

-- The device's identity keys; the two public keys are copied out so that a re-upload cannot
-- change them unnoticed.
create table device_key (
    account_id uuid not null,
    device_id text not null,
    ed25519 text not null,
    curve25519 text not null,
    key_json text not null,
    updated_at timestamptz not null default now(),
    primary key (account_id, device_id),
    foreign key (account_id, device_id) references device (account_id, device_id) on delete cascade
);

-- Each one is handed out once: claiming deletes it.
create table one_time_key (
    account_id uuid not null,
    device_id text not null,
    -- 'signed_curve25519:AAAAAQ'.
    key_id text not null,
    algorithm text not null,
    key_json text not null,
    created_at timestamptz not null default now(),
    primary key (account_id, device_id, key_id),
    foreign key (account_id, device_id) references device (account_id, device_id) on delete cascade
);

create index one_time_key_claim on one_time_key (account_id, device_id, algorithm);

-- One per algorithm and device; claiming marks it used but keeps handing it out until replaced.
create table fallback_key (
    account_id uuid not null,
    device_id text not null,
    algorithm text not null,
    key_id text not null,
    key_json text not null,
    used boolean not null default false,
    created_at timestamptz not null default now(),
    primary key (account_id, device_id, algorithm),
    foreign key (account_id, device_id) references device (account_id, device_id) on delete cascade
);

create table cross_signing_key (
    account_id uuid not null references account (account_id) on delete cascade,
    usage text not null check (usage in ('master', 'self_signing', 'user_signing')),
    -- The unpadded base64 ed25519 public key.
    public_key text not null,
    key_json text not null,
    updated_at timestamptz not null default now(),
    primary key (account_id, usage)
);

-- Signatures added after upload (keys/signatures/upload), merged into the signed object when
-- it is returned. A signature by another user (user-signing key on a master key) is shown only
-- to that user.
create table key_signature (
    -- The owner of the signed key.
    target_account_id uuid not null references account (account_id) on delete cascade,
    -- A device id, or the public key of a cross-signing key.
    target_key_id text not null,
    signer_user_id text not null,
    -- 'ed25519:<device id or public key>'.
    signer_key_id text not null,
    signature text not null,
    created_at timestamptz not null default now(),
    primary key (target_account_id, target_key_id, signer_user_id, signer_key_id)
);

-- To-device messages, queued per target device in id order until that device acknowledges them.
create table to_device (
    to_device_id bigint generated always as identity primary key,
    account_id uuid not null,
    device_id text not null,
    -- Set by the server from the sender's access token.
    sender_user_id text not null,
    sender_device_id text not null,
    event_type text not null,
    content jsonb not null,
    created_at timestamptz not null default now(),
    foreign key (account_id, device_id) references device (account_id, device_id) on delete cascade
);

create index to_device_target on to_device (account_id, device_id, to_device_id);

-- A retried send (same sender device and txn_id) is stored once.
create table to_device_txn (
    sender_account_id uuid not null references account (account_id) on delete cascade,
    sender_device_id text not null,
    txn_id text not null,
    created_at timestamptz not null default now(),
    primary key (sender_account_id, sender_device_id, txn_id)
);
