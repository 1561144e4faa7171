-- Group commit of client sends in one round trip (homeserver/src/rooms/batch.rs). A batch used
-- to be about ten statements in sequence, each a round trip between the committer and
-- PostgreSQL, all under the stream lock. These functions make the same checks and writes in the
-- same order inside PostgreSQL; called on its own, a function call is also its own transaction,
-- so a batch costs one round trip and one commit.
--
-- Both take the rooms' rows and then the stream row (lock_for_events). Each statement after that
-- takes a new snapshot: every event written before is committed and visible, so the membership
-- and duplicate checks are exact and positions stay gap-free. The unique key on (sender,
-- device_id, txn_id) stays the guarantee of idempotency: if it ever fired, the whole batch would
-- fail rather than leave a gap. New events take their rooms' next seqs and the server's next
-- stream positions in queue order.
--
-- Their plans are kept for the session and reused for every batch. A plan made while a table
-- was small (say, `event` in a new database) may read it whole and hash it, which then costs a
-- full read of the table per batch as it grows; every lookup here has an index, so sequential
-- scans are ruled out (`enable_seqscan = off` for the call; and JIT compilation, which the cost
-- that setting puts on the one-row stream table would otherwise start on every call).

-- Announces events at stream positions first..last (contiguous): {"stream_pos": n} for one
-- event (the payload every version of the server understands), else {"from": a, "to": b}.
create function notify_events(first bigint, last bigint) returns void
language sql volatile as $$
    select pg_notify('parley_event', case when first = last
        then json_build_object('stream_pos', first)
        else json_build_object('from', first, 'to', last) end::text)
$$;

-- Locks the rows of the given rooms in sorted order, then the stream row (the order every event
-- writer takes them in, so writers never deadlock); returns the next stream position.
create function lock_for_events(rooms text[]) returns bigint
language plpgsql volatile set enable_seqscan = off set jit = off as $$
declare
    next_pos bigint;
begin
    perform 1 from room r where r.room_id = any(rooms) order by r.room_id for update of r;
    select s.last + 1 into next_pos from stream_position s for update;
    return next_pos;
end
$$;

-- The usual batch, whose every send is new: distinct transaction ids (the committer answers a
-- repeat with its first send's event), none stored before, every sender a joined member. The
-- caller works out each send's place among its room's new events (room_ks, 1-based), each
-- room's count of them (count_rooms, counts; sorted by room) and the distinct (room, sender)
-- pairs. Returns one row per room: its seq before this batch (the send with place k gets
-- before_seq + k), the stream position of the first send (the send at index n gets
-- first_pos + n - 1) and the time of the batch. Returns nothing, and writes nothing, if a sender
-- is not a joined member or a send is already stored: then the caller uses send_events.
create function send_events_fast(
    room_ids text[], senders text[], device_ids text[], txn_ids text[], types text[],
    contents text[], event_ids text[], room_ks bigint[], count_rooms text[], counts bigint[],
    pair_rooms text[], pair_senders text[]
) returns table (room_id text, before_seq bigint, first_pos bigint, origin_server_ts timestamptz)
language plpgsql volatile set enable_seqscan = off set jit = off as $$
declare
    pos_from bigint;
    pos_to bigint;
begin
    pos_from := lock_for_events(count_rooms);
    if exists (select 1 from unnest(pair_rooms, pair_senders) as p(room_id, user_id)
               where not exists (select 1 from room_member m where m.room_id = p.room_id
                                     and m.user_id = p.user_id and m.membership = 'join'))
       or exists (select 1 from unnest(senders, device_ids, txn_ids)
                                as s(sender, device_id, txn_id)
                  join event e on e.sender = s.sender and e.device_id = s.device_id
                      and e.txn_id = s.txn_id) then
        return;
    end if;
    pos_to := pos_from + cardinality(room_ids) - 1;
    return query
    with counted as (
        update room r set last_seq = r.last_seq + c.k, last_event_at = now()
        from unnest(count_rooms, counts) as c(room_id, k)
        where r.room_id = c.room_id
        returning r.room_id, r.last_seq - c.k as before_seq
    ),
    inserted as (
        insert into event (event_id, room_id, seq, stream_pos, sender, device_id, txn_id, type,
                           content)
        select s.event_id, s.room_id, c.before_seq + s.room_k, pos_from + s.n - 1, s.sender,
               s.device_id, s.txn_id, s.type, s.content::jsonb
        from unnest(room_ids, senders, device_ids, txn_ids, types, contents, event_ids, room_ks)
                 with ordinality
                 as s(room_id, sender, device_id, txn_id, type, content, event_id, room_k, n)
        join counted c on c.room_id = s.room_id
    )
    select c.room_id, c.before_seq, pos_from, now() from counted c;
    update stream_position set last = pos_to;
    perform notify_events(pos_from, pos_to);
end
$$;

-- Any batch. Arguments: one element per send, in queue order (event_ids: the id each would get
-- if new). Returns one row per send, `n` being its 1-based index:
--   outcome 'new'    written now (a repeat later in the same batch is answered with it too),
--           'stored' a retry of an event stored earlier (that event),
--           'refused' no such room, or the sender is not a joined member (event columns null).
create function send_events(
    room_ids text[], senders text[], device_ids text[], txn_ids text[], types text[],
    contents text[], event_ids text[]
) returns table (
    n bigint, outcome text, event_id text, seq bigint, stream_pos bigint,
    origin_server_ts timestamptz
) language plpgsql volatile set enable_seqscan = off set jit = off as $$
declare
    first_pos bigint;
    written bigint;
begin
    first_pos := lock_for_events(room_ids);
    return query
    with send as (
        select * from unnest(room_ids, senders, device_ids, txn_ids, types, contents, event_ids)
            with ordinality as s(room_id, sender, device_id, txn_id, type, content, event_id, n)
    ),
    stored as (
        select s.n, e.event_id, e.seq, e.stream_pos, e.origin_server_ts
        from send s join event e
            on e.sender = s.sender and e.device_id = s.device_id and e.txn_id = s.txn_id
    ),
    -- The first send of each transaction id not stored yet, from a joined member (a member
    -- row exists only for an existing room).
    fresh as (
        select distinct on (s.sender, s.device_id, s.txn_id) s.*
        from send s
        where not exists (select 1 from stored t where t.n = s.n)
          and exists (select 1 from room_member m where m.room_id = s.room_id
                          and m.user_id = s.sender and m.membership = 'join')
        order by s.sender, s.device_id, s.txn_id, s.n
    ),
    numbered as (
        select f.*, row_number() over (order by f.n) as k,
               row_number() over (partition by f.room_id order by f.n) as room_k,
               count(*) over (partition by f.room_id) as room_count
        from fresh f
    ),
    counted as (
        update room r set last_seq = r.last_seq + c.room_count, last_event_at = now()
        from (select distinct x.room_id, x.room_count from numbered x) c
        where r.room_id = c.room_id
        returning r.room_id, r.last_seq - c.room_count as before_seq
    ),
    inserted as (
        insert into event as e (event_id, room_id, seq, stream_pos, sender, device_id, txn_id,
                                type, content)
        select x.event_id, x.room_id, c.before_seq + x.room_k, first_pos + x.k - 1, x.sender,
               x.device_id, x.txn_id, x.type, x.content::jsonb
        from numbered x join counted c on c.room_id = x.room_id
        returning e.event_id, e.seq, e.stream_pos, e.origin_server_ts
    ),
    positioned as (
        update stream_position set last = first_pos - 1 + (select count(*) from numbered)
    )
    -- A send is answered with the event of its transaction id written by this batch only if
    -- that send came first (an earlier send of it that was refused stays refused).
    select s.n,
           case when t.n is not null then 'stored' when i.event_id is not null then 'new'
                else 'refused' end,
           coalesce(t.event_id, i.event_id), coalesce(t.seq, i.seq),
           coalesce(t.stream_pos, i.stream_pos), coalesce(t.origin_server_ts, i.origin_server_ts)
    from send s
    left join stored t on t.n = s.n
    left join numbered x
        on t.n is null and x.sender = s.sender and x.device_id = s.device_id
           and x.txn_id = s.txn_id and x.n <= s.n
    left join inserted i on i.event_id = x.event_id
    order by s.n;

    select s.last - first_pos + 1 into written from stream_position s;
    if written > 0 then
        perform notify_events(first_pos, first_pos + written - 1);
    end if;
end
$$;

-- The events at the given stream positions, each with its room's joined members, for each
-- process's live fan-out of what was just announced (homeserver/src/rooms/mod.rs,
-- `events_and_recipients`): the members are read once per room, not once per event. A function
-- for the same reason as above: a plan kept from when `event` was small would read the table
-- whole for every announced batch.
create function events_at(positions bigint[]) returns table (
    stream_pos bigint, event_id text, room_id text, seq bigint, sender text, device_id text,
    origin_server_ts timestamptz, type text, content jsonb, members text[]
) language sql stable set enable_seqscan = off set jit = off as $$
    with e as (select * from event where event.stream_pos = any(positions)),
    m as (
        select r.room_id, array(select rm.user_id from room_member rm
                                where rm.room_id = r.room_id and rm.membership = 'join') as members
        from (select distinct e.room_id from e) r
    )
    select e.stream_pos, e.event_id, e.room_id, e.seq, e.sender, e.device_id, e.origin_server_ts,
           e.type, e.content, m.members
    from e join m on m.room_id = e.room_id
    order by e.stream_pos
$$;
