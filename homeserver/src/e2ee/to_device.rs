//! To-device messages: stored per target device until that device acknowledges them.

use std::collections::{BTreeMap, HashMap};

use parley_client_api::keys::{PendingToDevice, SendToDeviceRequest, ToDeviceEvent};
use parley_federation::{
    ServerName,
    api::{DirectToDevice, EDU_DIRECT_TO_DEVICE},
};
use serde_json::Value;
use sqlx::{PgConnection, Postgres, Transaction};

use super::{
    E2ee, KeyError,
    sync::{self, DeviceRef, KeyNotice},
};
use crate::accounts::AuthUser;

/// The longest event type or transaction id accepted.
const MAX_ID_CHARS: usize = 255;
/// The most target entries in one send.
const MAX_TARGETS: usize = 1000;

impl E2ee {
    /// Queues `content` for each target device (`*`: every device of the user). The sender is
    /// the caller, whatever the request says. A retry with the same `txn_id` from the same
    /// device stores nothing more. Unknown devices are skipped. Messages to users of other
    /// servers go into the federation outbox in the same transaction, one EDU per server (when
    /// this server federates with that one; otherwise they are skipped).
    pub async fn send_to_device(
        &self,
        user: &AuthUser,
        event_type: &str,
        txn_id: &str,
        request: &SendToDeviceRequest,
    ) -> Result<(), KeyError> {
        for (name, value) in [("event type", event_type), ("transaction id", txn_id)] {
            if value.is_empty() || value.chars().count() > MAX_ID_CHARS {
                return Err(KeyError::invalid(format!(
                    "The {name} must be 1 to {MAX_ID_CHARS} characters."
                )));
            }
        }
        let targets: usize = request.messages.values().map(|m| m.len()).sum();
        if targets > MAX_TARGETS {
            return Err(KeyError::invalid(format!(
                "Send to at most {MAX_TARGETS} devices at a time."
            )));
        }
        let mut tx = self.db.begin().await?;
        // Taken under the primary key: a concurrent retry waits here, then finds it done.
        let first = sqlx::query!(
            "insert into to_device_txn (sender_account_id, sender_device_id, txn_id)
             values ($1, $2, $3) on conflict do nothing",
            user.account_id,
            user.device_id,
            txn_id
        )
        .execute(&mut *tx)
        .await?;
        if first.rows_affected() == 0 {
            return Ok(());
        }
        let mut remote: HashMap<ServerName, BTreeMap<String, BTreeMap<String, Value>>> =
            HashMap::new();
        for (user_id, by_device) in &request.messages {
            if self.remote_server(user_id).is_some() {
                if let Some(server) = self.federating_with(user_id) {
                    remote
                        .entry(server)
                        .or_default()
                        .insert(user_id.clone(), by_device.clone());
                }
                continue;
            }
            let Some(account_id) = self.account_of(user_id).await? else {
                continue;
            };
            for (device_id, content) in by_device {
                store_to_device(
                    &mut tx,
                    account_id,
                    user_id,
                    device_id,
                    &user.user_id,
                    &user.device_id,
                    event_type,
                    content,
                )
                .await?;
            }
        }
        for (server, messages) in remote {
            let edu = DirectToDevice {
                sender: user.user_id.clone(),
                event_type: event_type.to_owned(),
                message_id: uuid::Uuid::new_v4().simple().to_string(),
                messages,
            };
            let content = serde_json::to_string(&edu)
                .map_err(|_| KeyError::invalid("The message cannot be encoded."))?;
            crate::federation::outbox::enqueue(&mut tx, &server, EDU_DIRECT_TO_DEVICE, &content)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The server of `user_id` if it is another server this one federates with.
    fn federating_with(&self, user_id: &str) -> Option<ServerName> {
        let peers = self.federation.as_ref()?;
        let server = crate::federation::inbound::user_server(user_id)?;
        (server.as_str() != self.server_name && peers.peer_allowed(&server)).then_some(server)
    }

    /// Stores a to-device message from another server (its sender already checked against the
    /// origin) for this server's users, inside the transaction that records the federation
    /// transaction. Unknown users and devices are skipped. The `Err` is a refusal reason.
    pub async fn receive_remote_to_device(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        message: &DirectToDevice,
    ) -> Result<Result<(), &'static str>, KeyError> {
        if message.event_type.is_empty() || message.event_type.chars().count() > MAX_ID_CHARS {
            return Ok(Err("The event type must be 1 to 255 characters."));
        }
        let targets: usize = message.messages.values().map(BTreeMap::len).sum();
        if targets > MAX_TARGETS {
            return Ok(Err("Too many target devices."));
        }
        for (user_id, by_device) in &message.messages {
            if self.remote_server(user_id).is_some() {
                continue;
            }
            // Inside the transaction: it already holds a connection, and the pool may have
            // none to spare.
            let account_id = sqlx::query_scalar!(
                "select account_id from account where user_id = $1 and disabled_at is null",
                user_id
            )
            .fetch_optional(&mut **tx)
            .await?;
            let Some(account_id) = account_id else {
                continue;
            };
            for (device_id, content) in by_device {
                store_to_device(
                    tx,
                    account_id,
                    user_id,
                    device_id,
                    &message.sender,
                    // A remote sender's device is not part of the EDU (the encrypted content
                    // names its sender key).
                    "",
                    &message.event_type,
                    content,
                )
                .await?;
            }
        }
        Ok(Ok(()))
    }

    /// The oldest messages waiting for the caller's device after id `after` (at most `limit`,
    /// 1 to 1000, default 100).
    pub async fn pending_to_device(
        &self,
        user: &AuthUser,
        after: i64,
        limit: Option<i64>,
    ) -> Result<PendingToDevice, KeyError> {
        let limit = limit.unwrap_or(100).clamp(1, 1000);
        let rows = sqlx::query!(
            "select to_device_id, event_type, sender_user_id, content from to_device
             where account_id = $1 and device_id = $2 and to_device_id > $3
             order by to_device_id limit $4",
            user.account_id,
            user.device_id,
            after,
            limit
        )
        .fetch_all(&self.db)
        .await?;
        Ok(PendingToDevice {
            events: rows
                .into_iter()
                .map(|r| ToDeviceEvent {
                    id: r.to_device_id,
                    event_type: r.event_type,
                    sender: r.sender_user_id,
                    content: r.content,
                })
                .collect(),
        })
    }

    /// Deletes the caller's device's messages up to and including `up_to_id`.
    pub async fn ack_to_device(&self, user: &AuthUser, up_to_id: i64) -> Result<u64, KeyError> {
        let deleted = sqlx::query!(
            "delete from to_device where account_id = $1 and device_id = $2 and to_device_id <= $3",
            user.account_id,
            user.device_id,
            up_to_id
        )
        .execute(&self.db)
        .await?;
        Ok(deleted.rows_affected())
    }
}

/// Stores `content` for `device_id` (`*`: every device) of a local account and tells each
/// reached device's connections.
#[allow(clippy::too_many_arguments)]
async fn store_to_device(
    conn: &mut PgConnection,
    account_id: uuid::Uuid,
    user_id: &str,
    device_id: &str,
    sender_user_id: &str,
    sender_device_id: &str,
    event_type: &str,
    content: &Value,
) -> Result<(), KeyError> {
    let reached = sqlx::query_scalar!(
        "insert into to_device
             (account_id, device_id, sender_user_id, sender_device_id, event_type, content)
         select account_id, device_id, $3, $4, $5, $6 from device
         where account_id = $1 and ($2 = '*' or device_id = $2)
         order by device_id
         returning device_id",
        account_id,
        device_id,
        sender_user_id,
        sender_device_id,
        event_type,
        content
    )
    .fetch_all(&mut *conn)
    .await?;
    for device_id in reached {
        let target = DeviceRef {
            user_id: user_id.to_owned(),
            device_id,
        };
        sync::announce(&mut *conn, &KeyNotice::ToDevice(target)).await?;
    }
    Ok(())
}
