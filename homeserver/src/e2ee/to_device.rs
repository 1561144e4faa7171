//! To-device messages: stored per target device until that device acknowledges them.

use parley_client_api::keys::{PendingToDevice, SendToDeviceRequest, ToDeviceEvent};

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
    /// device stores nothing more. Users of other servers and unknown devices are skipped.
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
        for (user_id, by_device) in &request.messages {
            if self.remote_server(user_id).is_some() {
                continue;
            }
            let Some(account_id) = self.account_of(user_id).await? else {
                continue;
            };
            for (device_id, content) in by_device {
                let reached = sqlx::query_scalar!(
                    "insert into to_device
                         (account_id, device_id, sender_user_id, sender_device_id, event_type,
                          content)
                     select account_id, device_id, $3, $4, $5, $6 from device
                     where account_id = $1 and ($2 = '*' or device_id = $2)
                     order by device_id
                     returning device_id",
                    account_id,
                    device_id,
                    user.user_id,
                    user.device_id,
                    event_type,
                    content
                )
                .fetch_all(&mut *tx)
                .await?;
                for device_id in reached {
                    let target = DeviceRef {
                        user_id: user_id.clone(),
                        device_id,
                    };
                    sync::announce(&mut *tx, &KeyNotice::ToDevice(target)).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
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
