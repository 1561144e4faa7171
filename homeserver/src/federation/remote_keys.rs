//! Key queries and claims that reach other servers, for local users (the client API's
//! `/keys/query` and `/keys/claim`), and the answers to other servers' queries and claims.
//!
//! Each remote server is asked once per request, all at once, each with a deadline. A server
//! that fails is listed under `failures` with a fixed message: what it said (or why it could
//! not be reached) is logged, never passed on.

use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};

use http::Method;
use parley_client_api::{
    ErrorCode,
    keys::{ClaimKeysRequest, ClaimKeysResponse, QueryKeysRequest, QueryKeysResponse},
};
use parley_federation::{
    ServerName,
    api::{self, CLAIM_KEYS_PATH, QUERY_KEYS_PATH},
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use tokio::task::JoinSet;

use super::{Federation, inbound::user_server};
use crate::{accounts::AuthUser, error::AppError, state::AppState};

/// The longest a remote server may take to answer a query or claim.
pub const REMOTE_TIMEOUT: Duration = Duration::from_secs(10);

/// The message under `failures` for a server that could not answer.
const UNREACHABLE: &str = "The user's server could not be reached.";

/// `POST /api/v1/keys/query` across servers.
pub async fn query(
    state: &AppState,
    user: &AuthUser,
    request: QueryKeysRequest,
) -> Result<QueryKeysResponse, AppError> {
    let Some(federation) = &state.federation else {
        return Ok(state.e2ee.query(user, &request).await?);
    };
    let (local, remote, mut failures) = split(state, request.device_keys);
    let mut response = state
        .e2ee
        .query(user, &QueryKeysRequest { device_keys: local })
        .await?;
    let answers = ask_all::<_, _, api::QueryKeysResponse, _>(
        federation,
        remote,
        QUERY_KEYS_PATH,
        |device_keys| api::QueryKeysRequest { device_keys },
    )
    .await;
    for (server, answer) in answers {
        let Some(answer) = answer else {
            failures.insert(server.as_str().to_owned(), unreachable());
            continue;
        };
        // A server answers for its own users only.
        let ours = |user_id: &String| user_server(user_id).is_some_and(|s| s == server);
        response
            .device_keys
            .extend(answer.device_keys.into_iter().filter(|(u, _)| ours(u)));
        response
            .master_keys
            .extend(answer.master_keys.into_iter().filter(|(u, _)| ours(u)));
        response.self_signing_keys.extend(
            answer
                .self_signing_keys
                .into_iter()
                .filter(|(u, _)| ours(u)),
        );
    }
    response.failures.extend(failures);
    Ok(response)
}

/// `POST /api/v1/keys/claim` across servers.
pub async fn claim(
    state: &AppState,
    request: ClaimKeysRequest,
) -> Result<ClaimKeysResponse, AppError> {
    let Some(federation) = &state.federation else {
        return Ok(state.e2ee.claim(&request).await?);
    };
    let (local, remote, mut failures) = split(state, request.one_time_keys);
    let mut response = state
        .e2ee
        .claim(&ClaimKeysRequest {
            one_time_keys: local,
        })
        .await?;
    let answers = ask_all::<_, _, api::ClaimKeysResponse, _>(
        federation,
        remote,
        CLAIM_KEYS_PATH,
        |one_time_keys| api::ClaimKeysRequest { one_time_keys },
    )
    .await;
    for (server, answer) in answers {
        let Some(answer) = answer else {
            failures.insert(server.as_str().to_owned(), unreachable());
            continue;
        };
        response.one_time_keys.extend(
            answer
                .one_time_keys
                .into_iter()
                .filter(|(u, _)| user_server(u).is_some_and(|s| s == server)),
        );
    }
    response.failures.extend(failures);
    Ok(response)
}

/// Another server's `POST /_parley/federation/v1/user/keys/query`: our users' keys, without
/// user-signing keys.
pub async fn answer_query(
    state: &AppState,
    request: api::QueryKeysRequest,
) -> Result<api::QueryKeysResponse, AppError> {
    let device_keys = request
        .device_keys
        .into_iter()
        .filter(|(user_id, _)| state.e2ee.is_local(user_id))
        .collect();
    let local = state
        .e2ee
        .query_as(None, &QueryKeysRequest { device_keys })
        .await?;
    Ok(api::QueryKeysResponse {
        device_keys: local.device_keys,
        master_keys: local.master_keys,
        self_signing_keys: local.self_signing_keys,
    })
}

/// Another server's `POST /_parley/federation/v1/user/keys/claim`.
pub async fn answer_claim(
    state: &AppState,
    request: api::ClaimKeysRequest,
) -> Result<api::ClaimKeysResponse, AppError> {
    let one_time_keys = request
        .one_time_keys
        .into_iter()
        .filter(|(user_id, _)| state.e2ee.is_local(user_id))
        .collect();
    let local = state
        .e2ee
        .claim(&ClaimKeysRequest { one_time_keys })
        .await?;
    Ok(api::ClaimKeysResponse {
        one_time_keys: local.one_time_keys,
    })
}

type ByServer<T> = HashMap<ServerName, BTreeMap<String, T>>;

/// Splits a per-user map into this server's users, other servers' users by server, and
/// failures for user ids that name no valid server or one we do not federate with.
fn split<T>(
    state: &AppState,
    by_user: BTreeMap<String, T>,
) -> (BTreeMap<String, T>, ByServer<T>, BTreeMap<String, Value>) {
    let mut local = BTreeMap::new();
    let mut remote: ByServer<T> = HashMap::new();
    let mut failures = BTreeMap::new();
    for (user_id, value) in by_user {
        if state.e2ee.is_local(&user_id) {
            local.insert(user_id, value);
            continue;
        }
        match user_server(&user_id) {
            Some(server)
                if state
                    .federation
                    .as_ref()
                    .is_some_and(|f| f.peer_allowed(&server)) =>
            {
                remote.entry(server).or_default().insert(user_id, value);
            }
            Some(server) => {
                failures.insert(
                    server.as_str().to_owned(),
                    failure("This server does not federate with the user's server."),
                );
            }
            None => {
                // Not a user id of any server: nothing to ask, nothing to report, as for an
                // unknown local user.
            }
        }
    }
    (local, remote, failures)
}

/// Asks every server at once; `None` for a server that failed (logged).
async fn ask_all<T, B, R, F>(
    federation: &Federation,
    remote: ByServer<T>,
    path: &'static str,
    body: F,
) -> Vec<(ServerName, Option<R>)>
where
    F: Fn(BTreeMap<String, T>) -> B,
    B: Serialize,
    R: DeserializeOwned + Send + 'static,
{
    let mut asks = JoinSet::new();
    for (server, users) in remote {
        let client = federation.client().clone();
        let body = serde_json::to_vec(&body(users));
        asks.spawn(async move {
            let answer = async {
                let body = body.map_err(|e| e.to_string())?;
                let sent = tokio::time::timeout(
                    REMOTE_TIMEOUT,
                    client.send(&server, Method::POST, path, Some(body)),
                )
                .await
                .map_err(|_| "timed out".to_owned())?
                .map_err(|e| e.to_string())?;
                serde_json::from_slice::<R>(&sent.body).map_err(|_| "invalid answer".to_owned())
            }
            .await;
            let answer = answer
                .map_err(
                    |reason| tracing::info!(%server, path, %reason, "remote key request failed"),
                )
                .ok();
            (server, answer)
        });
    }
    let mut answers = Vec::new();
    while let Some(joined) = asks.join_next().await {
        if let Ok(answer) = joined {
            answers.push(answer);
        }
    }
    answers
}

fn unreachable() -> Value {
    failure(UNREACHABLE)
}

fn failure(message: &str) -> Value {
    serde_json::json!({"errcode": ErrorCode::Unavailable.as_str(), "error": message})
}
