-- Outgoing mail, queued in the same transaction as the change that causes it (a sign-up, a
-- password reset) and sent by the mail worker of any `parley serve` process sharing this
-- database. Each row is claimed with `for update skip locked`, so it is sent by one process.

create table mail_outbox (
    mail_outbox_id uuid primary key default gen_random_uuid(),
    -- The `To` address, as given by the caller (validated before insert).
    recipient text not null,
    subject text not null,
    -- The plain-text body. It may hold single-use links, so it is emptied once the mail is sent.
    body_text text not null,
    created_at timestamptz not null default now(),
    -- Finished delivery attempts (successful or not).
    attempts integer not null default 0,
    -- When the mail may next be tried. While a worker holds a claim it lies in the future (a
    -- lease): a process that dies mid-send leaves the mail to be retried when the lease ends.
    next_attempt_at timestamptz not null default now(),
    -- Why the last attempt failed; never holds the body.
    last_error text,
    sent_at timestamptz,
    check (attempts >= 0),
    check (sent_at is null or last_error is null)
);

-- The worker's question: which unsent mail is due now?
create index mail_outbox_due_idx on mail_outbox (next_attempt_at) where sent_at is null;
