//! Receiving transactions: each `(origin, txn_id)` is applied once, in one database
//! transaction with its record, and a repeat gets the first answer.

use http::StatusCode;
use parley_client_api::ErrorCode;
use parley_federation::{
    ServerName,
    api::{
        self, DirectToDevice, EDU_DEVICE_LIST_UPDATE, EDU_DIRECT_TO_DEVICE, EDU_PRESENCE,
        EDU_RECEIPT, EDU_ROOM_EVENT, EDU_ROOM_SEND, EDU_TYPING, Edu, MAX_EDUS_PER_TRANSACTION,
        RoomEvent, RoomSend, Transaction, TransactionResponse, is_txn_id,
    },
};
use serde::de::DeserializeOwned;

use super::refused;
use crate::{error::AppError, state::AppState};

/// Applies `transaction`, sent by the authenticated `origin` as `txn_id`.
pub async fn receive(
    state: &AppState,
    origin: &ServerName,
    txn_id: &str,
    transaction: &Transaction,
) -> Result<TransactionResponse, AppError> {
    if !is_txn_id(txn_id) {
        return Err(AppError::BadJson("The transaction id is malformed.".into()));
    }
    if &transaction.origin != origin {
        return Err(refused(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "The transaction's origin is not the server that signed it.",
        ));
    }
    if transaction.edus.len() > MAX_EDUS_PER_TRANSACTION {
        return Err(AppError::BadJson(
            "Too many EDUs in one transaction.".into(),
        ));
    }
    let mut tx = state.db.begin().await?;
    // Under the primary key: a concurrent repeat waits here until the first commits, then
    // finds its answer.
    let first = sqlx::query!(
        "insert into federation_inbound_txn (origin, txn_id, response) values ($1, $2, '')
         on conflict do nothing",
        origin.as_str(),
        txn_id
    )
    .execute(&mut *tx)
    .await?;
    if first.rows_affected() == 0 {
        let stored = sqlx::query_scalar!(
            "select response from federation_inbound_txn where origin = $1 and txn_id = $2",
            origin.as_str(),
            txn_id
        )
        .fetch_one(&mut *tx)
        .await?;
        return serde_json::from_str(&stored)
            .map_err(|e| AppError::Internal(format!("stored transaction answer: {e}")));
    }
    lock_rooms(&mut tx, &transaction.edus).await?;
    let mut response = TransactionResponse::default();
    let mut stored_events = false;
    for (index, edu) in transaction.edus.iter().enumerate() {
        let outcome = match edu.edu_type.as_str() {
            EDU_DIRECT_TO_DEVICE => match parse::<DirectToDevice>(edu) {
                Ok(message) if sender_is_of(&message.sender, origin) => state
                    .e2ee
                    .receive_remote_to_device(&mut tx, &message)
                    .await
                    .map_err(|e| AppError::Internal(format!("to-device EDU: {e}")))?,
                Ok(_) => Err("The sender is not a user of the origin server."),
                Err(reason) => Err(reason),
            },
            EDU_ROOM_EVENT => match parse::<RoomEvent>(edu) {
                Ok(event) => {
                    stored_events = true;
                    state.rooms.receive_event(&mut tx, origin, &event).await?
                }
                Err(reason) => Err(reason),
            },
            EDU_ROOM_SEND => match parse::<RoomSend>(edu) {
                Ok(send) => state
                    .rooms
                    .receive_sends(&mut tx, origin, std::slice::from_ref(&send))
                    .await?
                    .pop()
                    .unwrap_or(Ok(())),
                Err(reason) => Err(reason),
            },
            EDU_TYPING => match parse::<api::Typing>(edu) {
                Ok(typing) => state.rooms.receive_typing(&mut tx, origin, &typing).await?,
                Err(reason) => Err(reason),
            },
            EDU_RECEIPT => match parse::<api::Receipt>(edu) {
                Ok(receipt) => {
                    state
                        .rooms
                        .receive_receipt(&mut tx, origin, &receipt)
                        .await?
                }
                Err(reason) => Err(reason),
            },
            EDU_PRESENCE => match parse::<api::Presence>(edu) {
                Ok(presence) if sender_is_of(&presence.user_id, origin) => {
                    crate::realtime::presence::receive_remote(&mut tx, &presence).await?;
                    Ok(())
                }
                Ok(_) => Err("The user is not of the origin server."),
                Err(reason) => Err(reason),
            },
            EDU_DEVICE_LIST_UPDATE => match parse::<api::DeviceListUpdate>(edu) {
                Ok(update) if sender_is_of(&update.user_id, origin) => {
                    crate::e2ee::sync::record_remote_keys_changed(&mut tx, &update.user_id).await?;
                    Ok(())
                }
                Ok(_) => Err("The user is not of the origin server."),
                Err(reason) => Err(reason),
            },
            _ => Err("Unknown EDU type."),
        };
        if let Err(reason) = outcome {
            response.refused.insert(index, reason.to_owned());
        }
    }
    let text = serde_json::to_string(&response)
        .map_err(|e| AppError::Internal(format!("transaction answer: {e}")))?;
    sqlx::query!(
        "update federation_inbound_txn set response = $3 where origin = $1 and txn_id = $2",
        origin.as_str(),
        txn_id,
        text
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    if stored_events {
        state.rooms.arrived();
    }
    Ok(response)
}

fn parse<T: DeserializeOwned>(edu: &Edu) -> Result<T, &'static str> {
    serde_json::from_str(edu.content.get()).map_err(|_| "Malformed EDU.")
}

/// Locks the rows of every room the transaction's events and sends touch, in one order, before
/// anything else: writers lock rooms before the stream position, and a transaction that
/// touched a second room after taking a position could deadlock with a local batch.
async fn lock_rooms(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    edus: &[Edu],
) -> Result<(), sqlx::Error> {
    #[derive(serde::Deserialize)]
    struct InRoom {
        room_id: String,
    }
    let mut rooms: Vec<String> = edus
        .iter()
        .filter(|e| e.edu_type == EDU_ROOM_EVENT || e.edu_type == EDU_ROOM_SEND)
        .filter_map(|e| serde_json::from_str::<InRoom>(e.content.get()).ok())
        .map(|r| r.room_id)
        .filter(|r| !r.contains('\0'))
        .collect();
    rooms.sort_unstable();
    rooms.dedup();
    if !rooms.is_empty() {
        sqlx::query!(
            "select room_id from room where room_id = any($1) order by room_id for update",
            &rooms
        )
        .fetch_all(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Whether `user_id` (`@name:server`) belongs to `server`, compared in normal form.
pub fn sender_is_of(user_id: &str, server: &ServerName) -> bool {
    user_server(user_id).is_some_and(|s| &s == server)
}

/// The server of a user id, if the id is `@localpart:server_name`.
pub fn user_server(user_id: &str) -> Option<ServerName> {
    let rest = user_id.strip_prefix('@')?;
    let (localpart, server) = rest.split_once(':')?;
    if localpart.is_empty() {
        return None;
    }
    ServerName::parse(server).ok()
}
