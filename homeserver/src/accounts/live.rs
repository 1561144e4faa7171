//! A short-lived, per-process cache of live sessions, so that most REST requests do not query
//! their session.
//!
//! An entry says: this session was live (not ended, not expired, its account not disabled) when
//! it was read, less than [`TTL`] ago. It is dropped at once, in every process, when the session
//! ends: triggers on `session` and `account` (migration `20261124000011`) announce every end on
//! [`SESSION_CHANNEL`] at commit, whatever code (or operator) ends it, and each process LISTENs
//! on the connection that live delivery LISTENs on (`realtime`; no connection of its own). The
//! cache is used only while that LISTEN connection is up: before it is in place, and from the
//! moment it drops until a notice arrives on the new one, the cache is emptied and bypassed
//! (every request queries). An entry read from the database is stored only if no end was announced
//! (and the listener did not drop) while it was being read, so a read racing with an end never
//! leaves a stale entry. A process that ends sessions itself also drops them from its own cache
//! right after the commit, before it answers. The one window left: between the commit that ends a session and this
//! process reading the notice (normally a few milliseconds), a request here may still pass;
//! see docs/security.md.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use time::OffsetDateTime;
use uuid::Uuid;

/// The channel on which ended sessions are announced (`session:<id>` or `account:<id>`).
pub const SESSION_CHANNEL: &str = "parley_session_end";
/// How long an entry is trusted without reading the database again.
pub const TTL: Duration = Duration::from_secs(15);
/// Entries kept, at most; when full, expired entries go, and if none has, all of them.
pub const CAPACITY: usize = 20_000;

/// A live session as read from the database.
#[derive(Debug, Clone)]
pub struct LiveSession {
    /// The account.
    pub account_id: Uuid,
    /// The account's user id.
    pub user_id: String,
    /// The session's device.
    pub device_id: String,
    /// The session's absolute end.
    pub expires_at: OffsetDateTime,
}

struct Entry {
    session: LiveSession,
    read_at: Instant,
}

#[derive(Default)]
struct State {
    /// Whether the LISTEN connection is up (the cache is used only then).
    listening: bool,
    /// Bumped by every invalidation: an entry read before one is not stored.
    epoch: u64,
    entries: HashMap<Uuid, Entry>,
}

/// The cache of one process; clones share it.
#[derive(Clone, Default)]
pub struct LiveSessions {
    state: Arc<Mutex<State>>,
}

/// A ticket to store what a database read returns, taken before the read.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

impl LiveSessions {
    /// The session `session_id` of `user_id`, if cached as live; `None` means: ask the
    /// database.
    pub fn get(&self, session_id: Uuid, user_id: &str) -> Option<LiveSession> {
        let state = self.state.lock().ok()?;
        if !state.listening {
            return None;
        }
        let entry = state.entries.get(&session_id)?;
        let fresh = entry.read_at.elapsed() < TTL
            && entry.session.expires_at > OffsetDateTime::now_utc()
            && entry.session.user_id == user_id;
        fresh.then(|| entry.session.clone())
    }

    /// Taken before reading a session from the database; `None` while the cache is not in use.
    pub fn ticket(&self) -> Option<Ticket> {
        let state = self.state.lock().ok()?;
        state.listening.then_some(Ticket(state.epoch))
    }

    /// Stores a session read as live after `ticket` was taken, unless something was
    /// invalidated since.
    pub fn insert(&self, ticket: Ticket, session_id: Uuid, session: LiveSession) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if !state.listening || state.epoch != ticket.0 {
            return;
        }
        if state.entries.len() >= CAPACITY && !state.entries.contains_key(&session_id) {
            state.entries.retain(|_, e| e.read_at.elapsed() < TTL);
            if state.entries.len() >= CAPACITY {
                state.entries.clear();
            }
        }
        state.entries.insert(
            session_id,
            Entry {
                session,
                read_at: Instant::now(),
            },
        );
    }

    /// Applies a notice of [`SESSION_CHANNEL`]; anything not understood empties the cache.
    pub fn on_notice(&self, payload: &str) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        state.epoch += 1;
        if let Some(id) = payload
            .strip_prefix("session:")
            .and_then(|s| s.parse().ok())
        {
            state.entries.remove(&id);
        } else if let Some(id) = payload
            .strip_prefix("account:")
            .and_then(|s| s.parse::<Uuid>().ok())
        {
            state.entries.retain(|_, e| e.session.account_id != id);
        } else {
            state.entries.clear();
        }
    }

    /// Drops a session this process has just ended (after its commit), so that this process
    /// refuses it at once without waiting for the notice.
    pub fn forget_session(&self, session_id: Uuid) {
        self.on_notice(&format!("session:{session_id}"));
    }

    /// Drops every session of an account this process has just ended sessions of.
    pub fn forget_account(&self, account_id: Uuid) {
        self.on_notice(&format!("account:{account_id}"));
    }

    /// Cached entries (for tests and metrics).
    pub fn len(&self) -> usize {
        self.state.lock().map_or(0, |s| s.entries.len())
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The LISTEN connection is in place (at start, or again after a loss): use the cache. Does
    /// nothing if it is in use already, so it may be called on every notice received.
    pub fn listening(&self) {
        if let Ok(mut state) = self.state.lock()
            && !state.listening
        {
            state.listening = true;
            state.epoch += 1;
            state.entries.clear();
        }
    }

    /// The LISTEN connection dropped (ends may have been announced meanwhile): forget every
    /// entry and check every request against the database until [`Self::listening`].
    pub fn listening_lost(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.listening = false;
            state.epoch += 1;
            state.entries.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn session(account_id: Uuid, user_id: &str) -> LiveSession {
        LiveSession {
            account_id,
            user_id: user_id.to_owned(),
            device_id: "DEV".to_owned(),
            expires_at: OffsetDateTime::now_utc() + Duration::from_secs(3600),
        }
    }

    fn listening() -> LiveSessions {
        let cache = LiveSessions::default();
        cache.listening();
        cache
    }

    #[test]
    fn unused_until_listening() {
        let cache = LiveSessions::default();
        assert!(cache.ticket().is_none());
        let sid = Uuid::new_v4();
        assert!(cache.get(sid, "@a:x").is_none());
    }

    #[test]
    fn hit_then_ended() {
        let cache = listening();
        let (sid, account) = (Uuid::new_v4(), Uuid::new_v4());
        let ticket = cache.ticket().unwrap();
        cache.insert(ticket, sid, session(account, "@a:x"));
        assert!(cache.get(sid, "@a:x").is_some());
        // Another user's token naming this session is not served from the cache.
        assert!(cache.get(sid, "@b:x").is_none());
        cache.on_notice(&format!("session:{sid}"));
        assert!(cache.get(sid, "@a:x").is_none());
    }

    #[test]
    fn account_notice_drops_its_sessions_only() {
        let cache = listening();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let (sa, sb) = (Uuid::new_v4(), Uuid::new_v4());
        cache.insert(cache.ticket().unwrap(), sa, session(a, "@a:x"));
        cache.insert(cache.ticket().unwrap(), sb, session(b, "@b:x"));
        cache.on_notice(&format!("account:{a}"));
        assert!(cache.get(sa, "@a:x").is_none());
        assert!(cache.get(sb, "@b:x").is_some());
        cache.on_notice("something else");
        assert!(cache.is_empty());
    }

    #[test]
    fn a_read_racing_with_an_end_is_not_stored() {
        let cache = listening();
        let sid = Uuid::new_v4();
        let ticket = cache.ticket().unwrap();
        // The session ends while the database read is in flight.
        cache.on_notice(&format!("session:{sid}"));
        cache.insert(ticket, sid, session(Uuid::new_v4(), "@a:x"));
        assert!(cache.get(sid, "@a:x").is_none());
    }

    #[test]
    fn losing_the_listener_empties_and_bypasses() {
        let cache = listening();
        let sid = Uuid::new_v4();
        let ticket = cache.ticket().unwrap();
        cache.insert(ticket, sid, session(Uuid::new_v4(), "@a:x"));
        cache.listening_lost();
        assert!(cache.is_empty());
        assert!(cache.ticket().is_none());
        cache.insert(ticket, sid, session(Uuid::new_v4(), "@a:x"));
        assert!(cache.get(sid, "@a:x").is_none());
    }

    #[test]
    fn expired_sessions_are_not_served() {
        let cache = listening();
        let sid = Uuid::new_v4();
        let mut s = session(Uuid::new_v4(), "@a:x");
        s.expires_at = OffsetDateTime::now_utc() - Duration::from_secs(1);
        cache.insert(cache.ticket().unwrap(), sid, s);
        assert!(cache.get(sid, "@a:x").is_none());
    }

    #[test]
    fn bounded() {
        let cache = listening();
        for _ in 0..CAPACITY + 10 {
            cache.insert(
                cache.ticket().unwrap(),
                Uuid::new_v4(),
                session(Uuid::new_v4(), "@a:x"),
            );
        }
        assert!(cache.len() <= CAPACITY);
    }
}
