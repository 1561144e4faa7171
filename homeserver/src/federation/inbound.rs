//! Receiving transactions: each `(origin, txn_id)` is applied once, in one database
//! transaction with its record, and a repeat gets the first answer.

use http::StatusCode;
use parley_client_api::ErrorCode;
use parley_federation::{
    ServerName,
    api::{
        DirectToDevice, EDU_DIRECT_TO_DEVICE, MAX_EDUS_PER_TRANSACTION, Transaction,
        TransactionResponse, is_txn_id,
    },
};

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
    let mut response = TransactionResponse::default();
    for (index, edu) in transaction.edus.iter().enumerate() {
        let outcome = match edu.edu_type.as_str() {
            EDU_DIRECT_TO_DEVICE => match serde_json::from_str::<DirectToDevice>(edu.content.get())
            {
                Ok(message) if sender_is_of(&message.sender, origin) => state
                    .e2ee
                    .receive_remote_to_device(&mut tx, &message)
                    .await
                    .map_err(|e| AppError::Internal(format!("to-device EDU: {e}")))?,
                Ok(_) => Err("The sender is not a user of the origin server."),
                Err(_) => Err("Malformed to-device EDU."),
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
    Ok(response)
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
