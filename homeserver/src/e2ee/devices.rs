//! The user's devices: list, rename, delete.

use parley_client_api::keys::{Device, DeviceList};

use super::{E2ee, KeyError, rfc3339};
use crate::accounts::AuthUser;

/// The longest device name accepted, in characters.
const MAX_NAME_CHARS: usize = 128;

impl E2ee {
    /// The caller's devices, oldest first, with when a session of each was last used.
    pub async fn devices(&self, user: &AuthUser) -> Result<DeviceList, KeyError> {
        let rows = sqlx::query!(
            r#"select d.device_id, d.display_name, d.created_at,
                      (select max(s.last_seen_at) from session s
                       where s.account_id = d.account_id and s.device_id = d.device_id)
                          as last_seen_at
               from device d where d.account_id = $1
               order by d.created_at, d.device_id"#,
            user.account_id
        )
        .fetch_all(&self.db)
        .await?;
        Ok(DeviceList {
            devices: rows
                .into_iter()
                .map(|r| Device {
                    current: r.device_id == user.device_id,
                    device_id: r.device_id,
                    display_name: r.display_name,
                    last_seen_at: r.last_seen_at.map(rfc3339),
                    created_at: rfc3339(r.created_at),
                })
                .collect(),
        })
    }

    /// Renames one of the caller's devices (`None` clears the name).
    pub async fn rename_device(
        &self,
        user: &AuthUser,
        device_id: &str,
        name: Option<&str>,
    ) -> Result<(), KeyError> {
        let name = name.map(str::trim).filter(|n| !n.is_empty());
        if name
            .is_some_and(|n| n.chars().count() > MAX_NAME_CHARS || n.chars().any(char::is_control))
        {
            return Err(KeyError::invalid(format!(
                "A device name is at most {MAX_NAME_CHARS} characters, without control characters."
            )));
        }
        let mut tx = self.db.begin().await?;
        let updated = sqlx::query!(
            "update device set display_name = $3 where account_id = $1 and device_id = $2",
            user.account_id,
            device_id,
            name
        )
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(KeyError::not_found("You have no device with this id."));
        }
        // Key queries show device names.
        super::sync::record_keys_changed(&mut tx, &user.user_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes one of the caller's devices (the caller has re-authenticated): its sessions end,
    /// and its keys, signatures on it and waiting to-device messages go.
    pub async fn delete_device(&self, user: &AuthUser, device_id: &str) -> Result<(), KeyError> {
        let mut tx = self.db.begin().await?;
        let deleted = sqlx::query!(
            "delete from device where account_id = $1 and device_id = $2",
            user.account_id,
            device_id
        )
        .execute(&mut *tx)
        .await?;
        if deleted.rows_affected() == 0 {
            return Err(KeyError::not_found("You have no device with this id."));
        }
        sqlx::query!(
            "update session set ended_at = now(), end_reason = 'device_deleted'
             where account_id = $1 and device_id = $2 and ended_at is null",
            user.account_id,
            device_id
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "delete from key_signature where target_account_id = $1 and target_key_id = $2",
            user.account_id,
            device_id
        )
        .execute(&mut *tx)
        .await?;
        super::sync::record_keys_changed(&mut tx, &user.user_id).await?;
        tx.commit().await?;
        Ok(())
    }
}
