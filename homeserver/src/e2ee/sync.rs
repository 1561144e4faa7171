//! Key state for the WebSocket: device-list changes (recorded here, in the transaction of the
//! change), and the announcements that wake a device's connections when a to-device message
//! arrives for it or its key stock changes.
//!
//! A device-list change takes a position from the server-wide stream that events use, under
//! the same row lock, so positions stay gap-free and visible in order and a client resumes
//! events and device lists with one `since`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, Transaction};

use parley_federation::api;

use super::{E2ee, KeyError};
use crate::{accounts::AuthUser, federation::outbox};

/// The channel of key-state announcements (payload: a [`KeyNotice`]).
pub const KEYS_CHANNEL: &str = "parley_keys";

/// What a [`KEYS_CHANNEL`] notification says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyNotice {
    /// Device-list changes were recorded at this stream position.
    DeviceLists(i64),
    /// To-device messages wait for this device.
    ToDevice(DeviceRef),
    /// This device's one-time or fallback keys changed.
    KeyCounts(DeviceRef),
}

/// A device of a local user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRef {
    /// The user.
    pub user_id: String,
    /// The device.
    pub device_id: String,
}

impl DeviceRef {
    /// The device of a session.
    pub fn of(user: &AuthUser) -> Self {
        Self {
            user_id: user.user_id.clone(),
            device_id: user.device_id.clone(),
        }
    }
}

/// Whether a user's keys changed or a user is no longer in any shared room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListChange {
    /// Query their keys again.
    Changed,
    /// Stop tracking them.
    Left,
}

/// Device-list changes for one recipient, last change per user winning.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeviceListDelta {
    /// Users whose keys changed.
    pub changed: BTreeSet<String>,
    /// Users no longer sharing a room.
    pub left: BTreeSet<String>,
}

impl DeviceListDelta {
    fn add(&mut self, user_id: String, kind: ListChange) {
        match kind {
            ListChange::Changed => {
                self.left.remove(&user_id);
                self.changed.insert(user_id);
            }
            ListChange::Left => {
                self.changed.remove(&user_id);
                self.left.insert(user_id);
            }
        }
    }

    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.left.is_empty()
    }
}

fn kind_from(kind: &str) -> ListChange {
    if kind == "left" {
        ListChange::Left
    } else {
        ListChange::Changed
    }
}

async fn next_position(tx: &mut Transaction<'_, Postgres>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!("update stream_position set last = last + 1 returning last")
        .fetch_one(&mut **tx)
        .await
}

/// Announces a key-state notice; inside a transaction it goes out when that commits.
pub async fn announce<'e>(
    db: impl sqlx::PgExecutor<'e>,
    notice: &KeyNotice,
) -> Result<(), sqlx::Error> {
    let payload = serde_json::to_string(notice).unwrap_or_default();
    sqlx::query!("select pg_notify($1, $2)", KEYS_CHANNEL, payload)
        .execute(db)
        .await?;
    Ok(())
}

/// Records that our user `user_id`'s devices or keys changed: everyone who shares a room with
/// them, and their own devices, learn it; so do the other servers of those rooms (durably, so
/// none misses an update).
pub async fn record_keys_changed(
    tx: &mut Transaction<'_, Postgres>,
    user_id: &str,
) -> Result<(), sqlx::Error> {
    record_remote_keys_changed(tx, user_id).await?;
    let servers = outbox::co_member_servers(tx, user_id).await?;
    let content = serde_json::to_string(&api::DeviceListUpdate {
        user_id: user_id.to_owned(),
    })
    .unwrap_or_default();
    outbox::enqueue_to(tx, &servers, api::EDU_DEVICE_LIST_UPDATE, &content, None).await
}

/// Records that `user_id`'s devices or keys changed, for our users only (another server told
/// us of its user's change).
pub async fn record_remote_keys_changed(
    tx: &mut Transaction<'_, Postgres>,
    user_id: &str,
) -> Result<(), sqlx::Error> {
    let pos = next_position(tx).await?;
    sqlx::query!(
        "insert into device_list_change (stream_pos, user_id, kind) values ($1, $2, 'changed')",
        pos,
        user_id
    )
    .execute(&mut **tx)
    .await?;
    announce(&mut **tx, &KeyNotice::DeviceLists(pos)).await
}

/// Records what a membership change means for device lists, after the membership row is
/// written. A join: the newcomer and the room's members track each other. A leave: pairs who
/// no longer share any room stop tracking each other.
pub async fn record_membership(
    tx: &mut Transaction<'_, Postgres>,
    room_id: &str,
    user_id: &str,
    joined: bool,
) -> Result<(), sqlx::Error> {
    let (others, kind) = if joined {
        let members = sqlx::query_scalar!(
            "select user_id from room_member
             where room_id = $1 and membership = 'join' and user_id <> $2",
            room_id,
            user_id
        )
        .fetch_all(&mut **tx)
        .await?;
        (members, "changed")
    } else {
        let gone = sqlx::query_scalar!(
            "select m.user_id from room_member m
             where m.room_id = $1 and m.membership = 'join' and m.user_id <> $2
               and not exists (
                   select 1 from room_member a join room_member b using (room_id)
                   where a.user_id = $2 and b.user_id = m.user_id
                     and a.membership = 'join' and b.membership = 'join')",
            room_id,
            user_id
        )
        .fetch_all(&mut **tx)
        .await?;
        (gone, "left")
    };
    // Nobody to tell: take no position, so positions stay gap-free.
    if others.is_empty() {
        return Ok(());
    }
    let pos = next_position(tx).await?;
    sqlx::query!(
        "insert into device_list_change (stream_pos, user_id, recipient, kind)
         select $1::bigint, $2::text, other, $4::text from unnest($3::text[]) as other
         union all
         select $1::bigint, other, $2::text, $4::text from unnest($3::text[]) as other",
        pos,
        user_id,
        &others,
        kind
    )
    .execute(&mut **tx)
    .await?;
    announce(&mut **tx, &KeyNotice::DeviceLists(pos)).await
}

/// Who learns of the device-list changes at `stream_pos`, and what each learns.
pub async fn device_lists_at(
    db: &PgPool,
    stream_pos: i64,
) -> Result<BTreeMap<String, DeviceListDelta>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"select c.user_id, c.kind,
                  case when c.recipient is not null then array[c.recipient]
                       else array(select distinct other.user_id from room_member me
                                  join room_member other using (room_id)
                                  where me.user_id = c.user_id and me.membership = 'join'
                                    and other.membership = 'join')
                            || array[c.user_id]
                  end as "recipients!"
           from device_list_change c where c.stream_pos = $1"#,
        stream_pos
    )
    .fetch_all(db)
    .await?;
    let mut by_recipient: BTreeMap<String, DeviceListDelta> = BTreeMap::new();
    for row in rows {
        let kind = kind_from(&row.kind);
        for recipient in row.recipients {
            by_recipient
                .entry(recipient)
                .or_default()
                .add(row.user_id.clone(), kind);
        }
    }
    Ok(by_recipient)
}

impl E2ee {
    /// The device-list changes `user_id` gets for positions in `(after, up_to]`, summed up.
    pub async fn device_lists_between(
        &self,
        user_id: &str,
        after: i64,
        up_to: i64,
    ) -> Result<DeviceListDelta, KeyError> {
        let rows = sqlx::query!(
            "select c.user_id, c.kind from device_list_change c
             where c.stream_pos > $2 and c.stream_pos <= $3
               and (c.recipient = $1
                    or (c.recipient is null
                        and (c.user_id = $1 or exists (
                            select 1 from room_member a join room_member b using (room_id)
                            where a.user_id = $1 and b.user_id = c.user_id
                              and a.membership = 'join' and b.membership = 'join'))))
             order by c.stream_pos",
            user_id,
            after,
            up_to
        )
        .fetch_all(&self.db)
        .await?;
        let mut delta = DeviceListDelta::default();
        for row in rows {
            delta.add(row.user_id, kind_from(&row.kind));
        }
        Ok(delta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_change_of_a_user_wins() {
        let mut delta = DeviceListDelta::default();
        delta.add("@a:x".into(), ListChange::Left);
        delta.add("@a:x".into(), ListChange::Changed);
        delta.add("@b:x".into(), ListChange::Changed);
        delta.add("@b:x".into(), ListChange::Left);
        assert_eq!(delta.changed, BTreeSet::from(["@a:x".to_owned()]));
        assert_eq!(delta.left, BTreeSet::from(["@b:x".to_owned()]));
    }

    #[test]
    fn notices_round_trip() {
        for notice in [
            KeyNotice::DeviceLists(7),
            KeyNotice::ToDevice(DeviceRef {
                user_id: "@a:x".into(),
                device_id: "D".into(),
            }),
        ] {
            let text = serde_json::to_string(&notice).unwrap_or_default();
            assert_eq!(serde_json::from_str::<KeyNotice>(&text).ok(), Some(notice));
        }
    }
}
