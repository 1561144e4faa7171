-- Shared helpers and the identity of the server that owns this database.

-- Keeps `updated_at` columns current; tables attach it with a trigger.
create function set_updated_at() returns trigger
language plpgsql as $$
begin
    new.updated_at = now();
    return new;
end;
$$;

-- Exactly one row: the server name this database was created for. A server's name is part of
-- every identifier it has issued, so starting against a database of another name is refused.
create table server_identity (
    server_identity_id boolean primary key default true check (server_identity_id),
    server_name text not null,
    created_at timestamptz not null default now()
);
