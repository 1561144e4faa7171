-- Every process keeps a short-lived cache of live sessions (accounts/live.rs) so that a REST
-- request need not query its session. A session's end is announced on `parley_session_end`
-- by these triggers, whatever ends it (sign-out, revocation, refresh-token reuse, password
-- change or reset, device deletion, account disabled or deleted, or an operator's SQL), and
-- each process drops the session from its cache when the notice arrives (at commit).
-- Payloads: 'session:<session_id>' or 'account:<account_id>'.

create function session_ended_notify() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' then
        perform pg_notify('parley_session_end', 'session:' || old.session_id::text);
        return old;
    end if;
    perform pg_notify('parley_session_end', 'session:' || new.session_id::text);
    return new;
end
$$;

-- Ended, or cut short (expires_at moved earlier), or moved to another account.
create trigger session_ended_notify after update on session for each row
    when (new.ended_at is distinct from old.ended_at
          or new.expires_at < old.expires_at
          or new.account_id is distinct from old.account_id)
    execute function session_ended_notify();

create trigger session_deleted_notify after delete on session for each row
    execute function session_ended_notify();

create function account_disabled_notify() returns trigger language plpgsql as $$
begin
    perform pg_notify('parley_session_end', 'account:' || new.account_id::text);
    return new;
end
$$;

-- A disabled account's sessions are also ended (one notice each); this covers any that are not.
create trigger account_disabled_notify after update on account for each row
    when (new.disabled_at is not null and old.disabled_at is null
          or new.user_id is distinct from old.user_id)
    execute function account_disabled_notify();
