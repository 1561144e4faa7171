//! The outbound federation client: discovery, the address policy, TLS, and request signing.
//!
//! - Every host name is resolved by a DNS resolver that drops addresses the [`AddressPolicy`]
//!   refuses (and fails if none is left); IP-literal hosts, which skip DNS, are checked before
//!   connecting. Pinned hosts ([`Pins`]) resolve to their pins, which the policy does not judge.
//! - TLS is rustls; the certificate is always verified against the host connected to, with the
//!   built-in web PKI roots plus any extra roots the operator configures. There is no way to
//!   turn verification off.
//! - Redirects are never followed (not even for `.well-known`, where a redirect counts as no
//!   delegation), proxies from the environment are ignored, and every response body is capped.
//! - Errors are categories and status codes only: a remote server's error text never reaches
//!   the caller, so it can never be shown to a local user.

use std::{
    collections::HashMap,
    error::Error as StdError,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
};

use http::{HeaderValue, Method, header::CONTENT_TYPE};
use reqwest::{
    Certificate,
    dns::{Addrs, Name, Resolve, Resolving},
    redirect,
};
use url::Url;

use crate::{
    discovery::{
        self, Delegation, MAX_WELL_KNOWN_BYTES, Pins, Resolution, Step, WELL_KNOWN_PATH,
        after_well_known, parse_well_known,
    },
    keys::{FetchFailed, KEY_DOCUMENT_PATH, KeyFetcher, MAX_KEY_DOCUMENT_BYTES},
    net::AddressPolicy,
    server_name::{Host, ServerName},
    signature::{SignError, sign_request},
    signing_key::ServerSigningKey,
};

/// How the client connects.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Which addresses may be connected to.
    pub address_policy: AddressPolicy,
    /// Hosts pinned to socket addresses.
    pub pins: Pins,
    /// Extra trusted root certificates, each a PEM bundle (a deployment's own CA).
    pub extra_root_certificates_pem: Vec<Vec<u8>>,
    /// The longest a connection (TCP and TLS) may take.
    pub connect_timeout: Duration,
    /// The longest a whole request may take, body included.
    pub request_timeout: Duration,
    /// The largest response body read.
    pub max_response_bytes: usize,
    /// How long signatures stay valid (at most 5 minutes).
    pub signature_lifetime: Duration,
    /// The `User-Agent`.
    pub user_agent: String,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            address_policy: AddressPolicy::default(),
            pins: Pins::default(),
            extra_root_certificates_pem: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_response_bytes: 4 * 1024 * 1024,
            signature_lifetime: Duration::from_secs(120),
            user_agent: concat!("parley/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// Why an outbound request failed: a category, never the remote server's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The configuration is unusable (for example an extra root certificate is not PEM).
    #[error("the federation client configuration is invalid: {0}")]
    Config(&'static str),
    /// The path is not an absolute path.
    #[error("the request path is invalid")]
    InvalidRequest,
    /// Every address of the destination is refused by the address policy.
    #[error("the destination's address is not allowed")]
    ForbiddenAddress,
    /// The destination's name does not resolve.
    #[error("the destination's name does not resolve")]
    Resolve,
    /// No connection could be made.
    #[error("the destination could not be reached")]
    Connect,
    /// The TLS handshake failed: the certificate is not valid for the name, not trusted, or
    /// expired.
    #[error("the destination's TLS certificate was refused")]
    Tls,
    /// The request took too long.
    #[error("the destination did not answer in time")]
    Timeout,
    /// The answer's body is larger than allowed.
    #[error("the destination's answer is too large")]
    TooLarge,
    /// The destination answered with a non-success status (its body is not kept).
    #[error("the destination answered with status {0}")]
    Status(u16),
    /// The answer could not be read or was not what was expected.
    #[error("the destination's answer is invalid")]
    InvalidResponse,
    /// The request could not be signed.
    #[error("the request could not be signed: {0}")]
    Sign(#[from] SignError),
    /// Another transport failure.
    #[error("the request to the destination failed")]
    Transport,
}

/// How long a delegation (or its absence) is remembered.
pub const WELL_KNOWN_CACHE_TIME: Duration = Duration::from_secs(60 * 60);
/// How long a failure to fetch a delegation document is remembered.
pub const WELL_KNOWN_FAILURE_CACHE_TIME: Duration = Duration::from_secs(5 * 60);
/// The most delegations remembered.
const WELL_KNOWN_CACHE_ENTRIES: usize = 10_000;

/// Delegations by host, each with the time it may be used until.
#[derive(Debug, Default)]
struct WellKnownCache(Mutex<HashMap<Host, (Option<Delegation>, Instant)>>);

impl WellKnownCache {
    fn get(&self, host: &Host, now: Instant) -> Option<Option<Delegation>> {
        let entries = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .get(host)
            .filter(|(_, until)| now < *until)
            .map(|(delegation, _)| delegation.clone())
    }

    fn put(&self, host: Host, delegation: Option<Delegation>, until: Instant, now: Instant) {
        let mut entries = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= WELL_KNOWN_CACHE_ENTRIES && !entries.contains_key(&host) {
            entries.retain(|_, (_, until)| now < *until);
            if entries.len() >= WELL_KNOWN_CACHE_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(host, (delegation, until));
    }
}

/// A successful (2xx) answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationResponse {
    /// The status.
    pub status: u16,
    /// The body, at most [`ClientConfig::max_response_bytes`].
    pub body: Vec<u8>,
}

/// The resolver found addresses, but the policy refuses all of them.
#[derive(Debug, thiserror::Error)]
#[error("every address of the host is refused by the address policy")]
struct Refused;

/// The resolver found no address.
#[derive(Debug, thiserror::Error)]
#[error("the host name does not resolve")]
struct NotFound;

/// Resolves through pins, then the system resolver, keeping only allowed addresses.
struct PolicyResolver {
    policy: Arc<AddressPolicy>,
    pins: Arc<Pins>,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let pinned = self.pins.get_str(name.as_str()).map(<[SocketAddr]>::to_vec);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            if let Some(addresses) = pinned {
                return Ok(Box::new(addresses.into_iter()) as Addrs);
            }
            // Port 0: the connector puts in the URL's port.
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|_| Box::new(NotFound) as Box<dyn StdError + Send + Sync>)?
                .collect();
            if resolved.is_empty() {
                return Err(Box::new(NotFound) as Box<dyn StdError + Send + Sync>);
            }
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|address| policy.allows(address.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(Refused) as Box<dyn StdError + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// A client that sends signed requests from one server to others.
#[derive(Debug, Clone)]
pub struct FederationClient {
    http: reqwest::Client,
    origin: ServerName,
    key: Arc<ServerSigningKey>,
    policy: Arc<AddressPolicy>,
    pins: Arc<Pins>,
    max_response_bytes: usize,
    signature_lifetime: Duration,
    well_known: Arc<WellKnownCache>,
    /// Tests serve `.well-known` on a port other than 443.
    well_known_port: Option<u16>,
}

impl FederationClient {
    /// A client for `origin`, signing with `key`.
    pub fn new(
        origin: ServerName,
        key: Arc<ServerSigningKey>,
        config: ClientConfig,
    ) -> Result<Self, ClientError> {
        let policy = Arc::new(config.address_policy);
        let pins = Arc::new(config.pins);
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .https_only(true)
            .min_tls_version(reqwest::tls::Version::TLS_1_2)
            .redirect(redirect::Policy::none())
            .no_proxy()
            .referer(false)
            .dns_resolver(Arc::new(PolicyResolver {
                policy: Arc::clone(&policy),
                pins: Arc::clone(&pins),
            }))
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(config.user_agent);
        for pem in &config.extra_root_certificates_pem {
            let certificates = Certificate::from_pem_bundle(pem)
                .map_err(|_| ClientError::Config("an extra root certificate is not valid PEM"))?;
            if certificates.is_empty() {
                return Err(ClientError::Config(
                    "an extra root certificate bundle is empty",
                ));
            }
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let http = builder
            .build()
            .map_err(|_| ClientError::Config("the HTTP client could not be built"))?;
        Ok(Self {
            http,
            origin,
            key,
            policy,
            pins,
            max_response_bytes: config.max_response_bytes,
            signature_lifetime: config.signature_lifetime,
            well_known: Arc::default(),
            well_known_port: None,
        })
    }

    /// The server this client signs as.
    pub fn origin(&self) -> &ServerName {
        &self.origin
    }

    /// Where `server` is served (see [`discovery`]). Never fails: a missing or invalid
    /// delegation means `<server>:8448`. Delegations are remembered for
    /// [`WELL_KNOWN_CACHE_TIME`], failures to fetch one for [`WELL_KNOWN_FAILURE_CACHE_TIME`].
    pub async fn resolve(&self, server: &ServerName) -> Resolution {
        match discovery::first_step(server, &self.pins) {
            Step::Resolved(resolution) => resolution,
            Step::FetchWellKnown { host } => {
                let delegation = match self.well_known.get(&host, Instant::now()) {
                    Some(delegation) => delegation,
                    None => {
                        let fetched = self.fetch_well_known(&host).await;
                        // A document that is absent or invalid is an answer ("no delegation");
                        // a transport failure may be passing.
                        let remember = match &fetched {
                            Ok(_) | Err(ClientError::Status(_) | ClientError::InvalidResponse) => {
                                WELL_KNOWN_CACHE_TIME
                            }
                            Err(_) => WELL_KNOWN_FAILURE_CACHE_TIME,
                        };
                        let delegation = fetched.ok();
                        let now = Instant::now();
                        self.well_known
                            .put(host, delegation.clone(), now + remember, now);
                        delegation
                    }
                };
                after_well_known(server, delegation, &self.pins)
            }
        }
    }

    async fn fetch_well_known(&self, host: &Host) -> Result<Delegation, ClientError> {
        let authority = match self.well_known_port {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        let url = Url::parse(&format!("https://{authority}{WELL_KNOWN_PATH}"))
            .map_err(|_| ClientError::InvalidRequest)?;
        let body = self
            .execute(self.http.get(url), MAX_WELL_KNOWN_BYTES)
            .await?;
        parse_well_known(&body).map_err(|_| ClientError::InvalidResponse)
    }

    /// The URL of `path_and_query` at `resolution`, after checking an IP-literal host against
    /// the policy (DNS names are checked by the resolver).
    fn url(&self, resolution: &Resolution, path_and_query: &str) -> Result<Url, ClientError> {
        if !path_and_query.starts_with('/') || path_and_query.starts_with("//") {
            return Err(ClientError::InvalidRequest);
        }
        if resolution.pinned.is_none()
            && resolution
                .host
                .ip()
                .is_some_and(|ip| !self.policy.allows(ip))
        {
            return Err(ClientError::ForbiddenAddress);
        }
        let url = Url::parse(&format!(
            "https://{}{path_and_query}",
            resolution.authority()
        ))
        .map_err(|_| ClientError::InvalidRequest)?;
        if url.fragment().is_some() {
            return Err(ClientError::InvalidRequest);
        }
        Ok(url)
    }

    /// Sends a signed request to `destination`; `body`, if any, is sent as
    /// `application/json`. A non-2xx answer is [`ClientError::Status`].
    pub async fn send(
        &self,
        destination: &ServerName,
        method: Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
    ) -> Result<FederationResponse, ClientError> {
        let resolution = self.resolve(destination).await;
        let url = self.url(&resolution, path_and_query)?;
        let raw = body.as_deref().unwrap_or_default();
        let signature = sign_request(
            &self.key,
            &self.origin,
            &method,
            &url,
            raw,
            SystemTime::now(),
            self.signature_lifetime,
        )?;
        let mut request = self.http.request(method, url);
        let mut headers = http::HeaderMap::new();
        signature.apply(&mut headers);
        if body.is_some() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        request = request.headers(headers);
        if let Some(body) = body {
            request = request.body(body);
        }
        let (status, body) = self
            .execute_with_status(request, self.max_response_bytes)
            .await?;
        Ok(FederationResponse { status, body })
    }

    /// An unsigned GET (for key documents), returning the body of a 2xx answer.
    pub async fn get_unsigned(
        &self,
        destination: &ServerName,
        path_and_query: &str,
        max_bytes: usize,
    ) -> Result<Vec<u8>, ClientError> {
        let resolution = self.resolve(destination).await;
        let url = self.url(&resolution, path_and_query)?;
        self.execute(self.http.get(url), max_bytes.min(self.max_response_bytes))
            .await
    }

    async fn execute(
        &self,
        request: reqwest::RequestBuilder,
        max_bytes: usize,
    ) -> Result<Vec<u8>, ClientError> {
        self.execute_with_status(request, max_bytes)
            .await
            .map(|(_, body)| body)
    }

    async fn execute_with_status(
        &self,
        request: reqwest::RequestBuilder,
        max_bytes: usize,
    ) -> Result<(u16, Vec<u8>), ClientError> {
        let mut response = request.send().await.map_err(|e| classify(&e))?;
        let status = response.status();
        if !status.is_success() {
            // The body may hold the remote server's error text: it is dropped unread.
            return Err(ClientError::Status(status.as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|length| length > max_bytes as u64)
        {
            return Err(ClientError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| classify(&e))? {
            if body.len() + chunk.len() > max_bytes {
                return Err(ClientError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status.as_u16(), body))
    }

    #[cfg(test)]
    fn with_well_known_port(mut self, port: u16) -> Self {
        self.well_known_port = Some(port);
        self
    }
}

impl KeyFetcher for FederationClient {
    async fn fetch(&self, server: &ServerName) -> Result<Vec<u8>, FetchFailed> {
        self.get_unsigned(server, KEY_DOCUMENT_PATH, MAX_KEY_DOCUMENT_BYTES)
            .await
            .map_err(|_| FetchFailed)
    }
}

/// Whether an error of type `T` is somewhere in `error`'s chain (looking inside I/O errors,
/// which hide their inner error from `source`).
fn caused_by<T: StdError + 'static>(error: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error.is::<T>() {
            return true;
        }
        if let Some(inner) = error
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            && caused_by::<T>(inner)
        {
            return true;
        }
        current = error.source();
    }
    false
}

fn classify(error: &reqwest::Error) -> ClientError {
    if caused_by::<Refused>(error) {
        ClientError::ForbiddenAddress
    } else if caused_by::<NotFound>(error) {
        ClientError::Resolve
    } else if error.is_timeout() {
        ClientError::Timeout
    } else if caused_by::<rustls::Error>(error) {
        ClientError::Tls
    } else if error.is_connect() {
        ClientError::Connect
    } else if error.is_body() || error.is_decode() {
        ClientError::InvalidResponse
    } else {
        ClientError::Transport
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use std::{collections::HashMap, net::SocketAddr};

    use ed25519_dalek::VerifyingKey;
    use http::{HeaderMap, HeaderName};
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio::{
        io::{AsyncReadExt as _, AsyncWriteExt as _},
        net::TcpListener,
        sync::mpsc,
    };
    use tokio_rustls::TlsAcceptor;

    use super::*;
    use crate::{
        keys::{KeyLookup, KeyLookupError},
        signature::{IncomingRequest, ReplayGuard, VerifyConfig, verify_request},
    };

    struct Ca {
        cert: rcgen::Certificate,
        key: KeyPair,
    }

    impl Ca {
        fn new() -> Self {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let cert = params.self_signed(&key).unwrap();
            Self { cert, key }
        }

        fn pem(&self) -> Vec<u8> {
            self.cert.pem().into_bytes()
        }

        fn leaf(&self, names: &[&str]) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
            let key = KeyPair::generate().unwrap();
            let params =
                CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                    .unwrap();
            let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
            (
                cert.der().clone(),
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
        }
    }

    /// What the test server received.
    #[derive(Debug)]
    struct Received {
        method: String,
        path: String,
        headers: HeaderMap,
        body: Vec<u8>,
    }

    type Answer = (u16, Vec<(&'static str, String)>, Vec<u8>);
    type Responder = Arc<dyn Fn(&str) -> Answer + Send + Sync>;

    /// A TLS server on 127.0.0.1 with a certificate for `names`, answering with `respond`.
    async fn serve(
        ca: &Ca,
        names: &[&str],
        respond: impl Fn(&str) -> Answer + Send + Sync + 'static,
    ) -> (SocketAddr, mpsc::UnboundedReceiver<Received>) {
        let respond: Responder = Arc::new(respond);
        let (cert, key) = ca.leaf(names);
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let sender = sender.clone();
                let respond = Arc::clone(&respond);
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buffer = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let head_end = loop {
                        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i;
                        }
                        let Ok(n) = tls.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buffer.extend_from_slice(&chunk[..n]);
                    };
                    let head = String::from_utf8(buffer[..head_end].to_vec()).unwrap();
                    let mut lines = head.split("\r\n");
                    let mut request_line = lines.next().unwrap().split(' ');
                    let method = request_line.next().unwrap().to_owned();
                    let path = request_line.next().unwrap().to_owned();
                    let mut headers = HeaderMap::new();
                    for line in lines {
                        let (name, value) = line.split_once(':').unwrap();
                        headers.append(
                            HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
                            HeaderValue::from_str(value.trim()).unwrap(),
                        );
                    }
                    let length: usize = headers
                        .get("content-length")
                        .map_or(0, |v| v.to_str().unwrap().parse().unwrap());
                    let mut body = buffer[head_end + 4..].to_vec();
                    while body.len() < length {
                        let Ok(n) = tls.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            break;
                        }
                        body.extend_from_slice(&chunk[..n]);
                    }
                    let (status, extra, answer) = respond(&path);
                    let _ = sender.send(Received {
                        method,
                        path,
                        headers,
                        body,
                    });
                    let mut response = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                        answer.len()
                    );
                    for (name, value) in extra {
                        response.push_str(&format!("{name}: {value}\r\n"));
                    }
                    response.push_str("\r\n");
                    let _ = tls.write_all(response.as_bytes()).await;
                    let _ = tls.write_all(&answer).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        (address, receiver)
    }

    fn ok(_path: &str) -> Answer {
        (200, vec![], br#"{"ok":true}"#.to_vec())
    }

    fn name(text: &str) -> ServerName {
        ServerName::parse(text).unwrap()
    }

    fn client(policy: AddressPolicy, pins: Pins, roots: Vec<Vec<u8>>) -> FederationClient {
        FederationClient::new(
            name("org-a.test"),
            Arc::new(ServerSigningKey::generate()),
            ClientConfig {
                address_policy: policy,
                pins,
                extra_root_certificates_pem: roots,
                connect_timeout: Duration::from_secs(5),
                request_timeout: Duration::from_secs(10),
                ..ClientConfig::default()
            },
        )
        .unwrap()
    }

    struct Keys(HashMap<String, VerifyingKey>);

    impl KeyLookup for Keys {
        async fn lookup(
            &self,
            server: &ServerName,
            key_id: &str,
            _signed_at: SystemTime,
            _now: SystemTime,
        ) -> Result<VerifyingKey, KeyLookupError> {
            self.0
                .get(&format!("{server}#{key_id}"))
                .copied()
                .ok_or(KeyLookupError::UnknownKey)
        }
    }

    /// Verifies what the server received as a request to `own`.
    async fn verify_received(
        client: &FederationClient,
        received: &Received,
        own: &str,
    ) -> Result<ServerName, crate::signature::VerifyError> {
        let keys = Keys(HashMap::from([(
            format!("{}#{}", client.origin(), client.key.key_id()),
            client.key.verifying_key(),
        )]));
        let method = Method::from_bytes(received.method.as_bytes()).unwrap();
        let authority = received.headers["host"].to_str().unwrap();
        verify_request(
            &IncomingRequest {
                method: &method,
                authority,
                path_and_query: &received.path,
                headers: &received.headers,
                body: &received.body,
            },
            &VerifyConfig::new(&[name(own)]),
            &keys,
            &ReplayGuard::new(10),
            None,
            SystemTime::now(),
        )
        .await
        .map(|verified| verified.origin)
    }

    #[tokio::test]
    async fn loopback_is_refused_by_default() {
        let ca = Ca::new();
        let (address, mut received) = serve(&ca, &["localhost", "127.0.0.1"], ok).await;
        let port = address.port();
        let client = client(AddressPolicy::default(), Pins::new(), vec![ca.pem()]);
        for destination in [
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            format!("[::1]:{port}"),
            format!("[::ffff:127.0.0.1]:{port}"),
        ] {
            let result = client
                .send(
                    &name(&destination),
                    Method::PUT,
                    "/_parley/x",
                    Some(b"{}".to_vec()),
                )
                .await;
            assert_eq!(result, Err(ClientError::ForbiddenAddress), "{destination}");
            let result = client
                .get_unsigned(&name(&destination), KEY_DOCUMENT_PATH, 1000)
                .await;
            assert_eq!(result, Err(ClientError::ForbiddenAddress), "{destination}");
        }
        assert!(received.try_recv().is_err(), "nothing reached the server");
    }

    #[tokio::test]
    async fn loopback_is_allowed_when_the_operator_allows_it_and_requests_verify() {
        let ca = Ca::new();
        let (address, mut received) = serve(&ca, &["localhost"], ok).await;
        let destination = format!("localhost:{}", address.port());
        let client = client(AddressPolicy::allow_private(), Pins::new(), vec![ca.pem()]);
        let response = client
            .send(
                &name(&destination),
                Method::PUT,
                "/_parley/federation/v1/send/t1?a=b",
                Some(br#"{"events":[]}"#.to_vec()),
            )
            .await
            .unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.body, br#"{"ok":true}"#);

        let request = received.recv().await.unwrap();
        assert_eq!(request.method, "PUT");
        assert_eq!(request.path, "/_parley/federation/v1/send/t1?a=b");
        assert_eq!(request.headers["host"], destination.as_str());
        assert_eq!(request.headers["content-type"], "application/json");
        assert_eq!(request.body, br#"{"events":[]}"#);
        assert_eq!(
            verify_received(&client, &request, &destination).await,
            Ok(name("org-a.test"))
        );
        // Addressed to another server, it is refused.
        assert_eq!(
            verify_received(&client, &request, "org-b.test").await,
            Err(crate::signature::VerifyError::WrongDestination)
        );
    }

    #[tokio::test]
    async fn a_certificate_for_another_name_or_from_an_unknown_ca_is_refused() {
        let ca = Ca::new();
        let (address, _received) = serve(&ca, &["other.test"], ok).await;
        let destination = name(&format!("localhost:{}", address.port()));
        let client_with_ca = client(AddressPolicy::allow_private(), Pins::new(), vec![ca.pem()]);
        assert_eq!(
            client_with_ca
                .send(&destination, Method::GET, "/", None)
                .await,
            Err(ClientError::Tls)
        );

        let (address, _received) = serve(&ca, &["localhost"], ok).await;
        let destination = name(&format!("localhost:{}", address.port()));
        let client_without_ca = client(AddressPolicy::allow_private(), Pins::new(), vec![]);
        assert_eq!(
            client_without_ca
                .send(&destination, Method::GET, "/", None)
                .await,
            Err(ClientError::Tls)
        );
        assert_eq!(
            FederationClient::new(
                name("a.test"),
                Arc::new(ServerSigningKey::generate()),
                ClientConfig {
                    extra_root_certificates_pem: vec![b"not pem".to_vec()],
                    ..ClientConfig::default()
                }
            )
            .err(),
            Some(ClientError::Config(
                "an extra root certificate bundle is empty"
            ))
        );
    }

    #[tokio::test]
    async fn pinned_hosts_are_reached_at_their_pins_with_the_certificate_checked() {
        let ca = Ca::new();
        let (address, mut received) = serve(&ca, &["org-b.test"], ok).await;
        let mut pins = Pins::new();
        pins.insert(&name("org-b.test"), vec![address]).unwrap();
        // The default policy: pins are the operator's choice.
        let client = client(AddressPolicy::default(), pins, vec![ca.pem()]);
        client
            .send(
                &name("org-b.test"),
                Method::POST,
                "/x",
                Some(b"{}".to_vec()),
            )
            .await
            .unwrap();
        let request = received.recv().await.unwrap();
        let authority = format!("org-b.test:{}", address.port());
        assert_eq!(request.headers["host"], authority.as_str());
        verify_received(&client, &request, &authority)
            .await
            .unwrap();

        // The certificate is still checked against the name.
        let (address, _received) = serve(&ca, &["someone-else.test"], ok).await;
        let mut pins = Pins::new();
        pins.insert(&name("org-b.test"), vec![address]).unwrap();
        let client = self::client(AddressPolicy::default(), pins, vec![ca.pem()]);
        assert_eq!(
            client
                .send(&name("org-b.test"), Method::GET, "/", None)
                .await,
            Err(ClientError::Tls)
        );
    }

    fn delegating(path: &str) -> Answer {
        if path == WELL_KNOWN_PATH {
            (200, vec![], br#"{"server": "fed.test:1234"}"#.to_vec())
        } else {
            ok(path)
        }
    }

    #[tokio::test]
    async fn well_known_delegation_is_followed() {
        let ca = Ca::new();
        let (address, mut received) = serve(&ca, &["localhost", "fed.test"], delegating).await;
        let mut pins = Pins::new();
        pins.insert(&name("fed.test"), vec![address]).unwrap();
        let client = client(AddressPolicy::allow_private(), pins, vec![ca.pem()])
            .with_well_known_port(address.port());

        let resolution = client.resolve(&name("localhost")).await;
        assert_eq!(
            resolution.authority(),
            format!("fed.test:{}", address.port())
        );
        let well_known = received.recv().await.unwrap();
        assert_eq!(well_known.path, WELL_KNOWN_PATH);
        assert!(well_known.headers.get("signature").is_none());

        // The delegation is remembered: the next request goes straight to the delegated host.
        client
            .send(&name("localhost"), Method::PUT, "/y", Some(b"{}".to_vec()))
            .await
            .unwrap();
        let request = received.recv().await.unwrap();
        assert_eq!(request.path, "/y");
        let authority = format!("fed.test:{}", address.port());
        verify_received(&client, &request, &authority)
            .await
            .unwrap();

        // Without the operator's permission, the same name is refused before any connection.
        let strict = self::client(AddressPolicy::default(), Pins::new(), vec![ca.pem()])
            .with_well_known_port(address.port());
        assert_eq!(
            strict
                .send(&name("localhost"), Method::GET, "/", None)
                .await,
            Err(ClientError::ForbiddenAddress)
        );
    }

    fn failing(path: &str) -> Answer {
        match path {
            "/big" => (200, vec![], vec![b'x'; 2000]),
            "/redirect" => (
                302,
                vec![("location", "https://169.254.169.254/".into())],
                vec![],
            ),
            _ => (500, vec![], b"secret internal detail".to_vec()),
        }
    }

    #[tokio::test]
    async fn remote_errors_redirects_and_large_answers() {
        let ca = Ca::new();
        let (address, _received) = serve(&ca, &["localhost"], failing).await;
        let destination = name(&format!("localhost:{}", address.port()));
        let client = FederationClient::new(
            name("org-a.test"),
            Arc::new(ServerSigningKey::generate()),
            ClientConfig {
                address_policy: AddressPolicy::allow_private(),
                extra_root_certificates_pem: vec![ca.pem()],
                max_response_bytes: 1000,
                ..ClientConfig::default()
            },
        )
        .unwrap();
        let error = client
            .send(&destination, Method::GET, "/fail", None)
            .await
            .unwrap_err();
        assert_eq!(error, ClientError::Status(500));
        assert!(!format!("{error} {error:?}").contains("secret"));
        assert_eq!(
            client
                .send(&destination, Method::GET, "/redirect", None)
                .await,
            Err(ClientError::Status(302))
        );
        assert_eq!(
            client.send(&destination, Method::GET, "/big", None).await,
            Err(ClientError::TooLarge)
        );
        assert_eq!(
            client
                .send(&destination, Method::GET, "no-slash", None)
                .await,
            Err(ClientError::InvalidRequest)
        );
    }

    #[tokio::test]
    async fn the_key_cache_fetches_documents_through_the_client() {
        use crate::keys::{
            KeyCache, KeyCacheConfig, KeyLookupError, RetiredKey, sign_key_document,
        };

        let ca = Ca::new();
        let org_b = ServerSigningKey::generate();
        let old = ServerSigningKey::generate();
        let retired = vec![RetiredKey::retire(&old, SystemTime::now())];
        let document = serde_json::to_vec(
            &sign_key_document(
                &name("org-b.test"),
                &org_b,
                &retired,
                SystemTime::now() + Duration::from_secs(3600),
            )
            .unwrap(),
        )
        .unwrap();
        let (address, mut received) = serve(&ca, &["org-b.test"], move |path| {
            if path == KEY_DOCUMENT_PATH {
                (200, vec![], document.clone())
            } else {
                (404, vec![], vec![])
            }
        })
        .await;
        let mut pins = Pins::new();
        pins.insert(&name("org-b.test"), vec![address]).unwrap();
        let client = Arc::new(client(AddressPolicy::default(), pins, vec![ca.pem()]));
        let cache = KeyCache::new(Arc::clone(&client), KeyCacheConfig::default());

        let now = SystemTime::now();
        let key = cache
            .key(&name("org-b.test"), &org_b.key_id(), now, now)
            .await
            .unwrap();
        assert_eq!(key, org_b.verifying_key());
        let request = received.recv().await.unwrap();
        assert_eq!(request.method, "GET");
        assert_eq!(request.path, KEY_DOCUMENT_PATH);
        // The retired key verifies only what was signed before it was retired.
        let earlier = now - Duration::from_secs(60);
        assert_eq!(
            cache
                .key(&name("org-b.test"), &old.key_id(), earlier, now)
                .await,
            Ok(old.verifying_key())
        );
        assert_eq!(
            cache
                .key(&name("org-b.test"), &old.key_id(), now, now)
                .await,
            Err(KeyLookupError::KeyExpired)
        );
        // A server whose document cannot be had (here: a refused address).
        assert_eq!(
            cache
                .key(&name("127.0.0.1:1"), &org_b.key_id(), now, now)
                .await,
            Err(KeyLookupError::Fetch)
        );
    }
}
