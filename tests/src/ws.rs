//! A WebSocket client of `/api/v1/ws` for tests.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{
        Message, client::IntoClientRequest as _, http::HeaderValue, protocol::CloseFrame,
    },
};

use crate::users::TestUser;

/// An open WebSocket of a test user.
pub struct TestSocket {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The stream position of the last event (or device-list change) received.
    pub last_pos: i64,
}

/// How a connection attempt or a connection ended.
#[derive(Debug)]
pub enum WsEnd {
    /// Refused at the upgrade with this HTTP status.
    Refused(u16),
    /// Closed by the server with this code.
    Closed(u16),
}

impl TestSocket {
    /// Connects as `user`, resuming after `since` (None: only new events), with an optional
    /// `Origin` header.
    pub async fn connect(
        user: &TestUser,
        since: Option<i64>,
        origin: Option<&str>,
    ) -> Result<Self, WsEnd> {
        let mut url = user.base_url().clone();
        let _ = url.set_scheme("ws");
        url.set_path("/api/v1/ws");
        if let Some(since) = since {
            url.set_query(Some(&format!("since={since}")));
        }
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|_| WsEnd::Refused(0))?;
        let protocols = format!("parley.v1, parley.token.{}", user.access_token);
        request.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_str(&protocols).map_err(|_| WsEnd::Refused(0))?,
        );
        if let Some(origin) = origin {
            request.headers_mut().insert(
                "origin",
                HeaderValue::from_str(origin).map_err(|_| WsEnd::Refused(0))?,
            );
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((stream, _)) => Ok(Self {
                stream,
                last_pos: since.unwrap_or(0),
            }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(WsEnd::Refused(response.status().as_u16()))
            }
            Err(_) => Err(WsEnd::Refused(0)),
        }
    }

    /// Sends a client frame.
    pub async fn send(&mut self, frame: Value) -> anyhow::Result<()> {
        self.stream
            .send(Message::Text(frame.to_string().into()))
            .await?;
        Ok(())
    }

    /// The next server frame within `deadline`; records event positions.
    pub async fn next(&mut self, deadline: Duration) -> Result<Value, WsEnd> {
        let started = tokio::time::Instant::now();
        loop {
            let left = deadline.saturating_sub(started.elapsed());
            let message = tokio::time::timeout(left, self.stream.next())
                .await
                .map_err(|_| WsEnd::Closed(0))?;
            match message {
                Some(Ok(Message::Text(text))) => {
                    let frame: Value = serde_json::from_str(&text).map_err(|_| WsEnd::Closed(0))?;
                    if (frame["type"] == "event" || frame["type"] == "device_lists")
                        && let Some(pos) = frame["stream_pos"].as_i64()
                    {
                        self.last_pos = pos;
                    }
                    return Ok(frame);
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(WsEnd::Closed(
                        frame.map_or(1005, |f: CloseFrame| f.code.into()),
                    ));
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Err(WsEnd::Closed(1006)),
            }
        }
    }

    /// Skips frames until one satisfies `want`, within `deadline`; panics otherwise (a test
    /// helper: failing the test loudly is its job).
    #[allow(clippy::panic)]
    pub async fn wait_for(
        &mut self,
        what: &str,
        deadline: Duration,
        want: impl Fn(&Value) -> bool,
    ) -> Value {
        let started = tokio::time::Instant::now();
        loop {
            let left = deadline.saturating_sub(started.elapsed());
            match self.next(left).await {
                Ok(frame) if want(&frame) => return frame,
                Ok(_) => {}
                Err(end) => panic!("waiting for {what}: {end:?}"),
            }
        }
    }

    /// Reads until the server closes the connection; returns how.
    pub async fn wait_for_close(&mut self, deadline: Duration) -> WsEnd {
        let started = tokio::time::Instant::now();
        loop {
            let left = deadline.saturating_sub(started.elapsed());
            if left.is_zero() {
                return WsEnd::Closed(0);
            }
            if let Err(end) = self.next(left).await {
                return end;
            }
        }
    }

    /// Closes the connection.
    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}
