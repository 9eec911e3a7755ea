//! One HTTP/1.1 connection (plain or TLS) to a remote-write receiver, and what its answer means for the
//! batch.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{header, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::{Destination, ForwardError, Protocol, TlsOptions};

/// Where the system's certificate authorities are looked for when a destination names none (after
/// `SSL_CERT_FILE`): Debian/Ubuntu/Alpine, Fedora/RHEL, openSUSE, and the OpenSSL default.
const SYSTEM_CA_FILES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The parts of a destination a connection needs, checked and loaded once.
#[derive(Clone)]
pub(crate) struct Target {
    pub host: String,
    pub port: u16,
    pub authority: String,
    pub path: String,
    /// The `Authorization` header's value, if any.
    pub authorization: Option<String>,
    /// Set for `https://`: the client configuration and the name the certificate must carry.
    pub tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    pub protocol: Protocol,
}

impl Target {
    /// Checks the URL and loads the TLS files. Errors name the URL and the file.
    pub(crate) fn new(dest: &Destination) -> Result<Target, ForwardError> {
        let url = dest.url.as_str();
        let bad = |reason: String| ForwardError::Url {
            url: url.to_string(),
            reason,
        };
        let uri: Uri = url.parse().map_err(|e| bad(format!("not a URL: {e}")))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(bad("the URL must start with http:// or https://".into())),
        };
        let host = uri.host().ok_or_else(|| bad("no host".into()))?.to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let authority = uri
            .authority()
            .map(|a| a.as_str().to_string())
            .unwrap_or_else(|| host.clone());
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let authorization = match (&dest.bearer_token, &dest.basic_auth) {
            (Some(_), Some(_)) => {
                return Err(bad(
                    "both a bearer token and basic auth are set; use one".into()
                ))
            }
            (Some(t), None) => Some(format!("Bearer {t}")),
            (None, Some((user, password))) => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            )),
            (None, None) => None,
        };
        let tls = if https {
            let name = dest.tls.server_name.clone().unwrap_or_else(|| host.clone());
            let name = ServerName::try_from(name.clone()).map_err(|e| {
                bad(format!(
                    "{name:?} cannot be checked against a certificate: {e}"
                ))
            })?;
            let cfg = client_config(url, &dest.tls)?;
            Some((tokio_rustls::TlsConnector::from(cfg), name))
        } else {
            if dest.tls != TlsOptions::default() {
                return Err(bad(
                    "TLS files are given but the URL is http://; use https://".into(),
                ));
            }
            None
        };
        Ok(Target {
            host,
            port,
            authority,
            path,
            authorization,
            tls,
            protocol: dest.protocol,
        })
    }
}

fn tls_error(url: &str, file: Option<&Path>, reason: String) -> ForwardError {
    ForwardError::Tls {
        url: url.to_string(),
        file: file.map(Path::to_path_buf),
        reason,
    }
}

fn read_pem(url: &str, p: &Path) -> Result<Vec<u8>, ForwardError> {
    std::fs::read(p).map_err(|e| tls_error(url, Some(p), format!("cannot read it: {e}")))
}

fn certificates(url: &str, p: &Path) -> Result<Vec<CertificateDer<'static>>, ForwardError> {
    let pem = read_pem(url, p)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_error(url, Some(p), format!("not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(tls_error(url, Some(p), "holds no certificate".into()));
    }
    Ok(certs)
}

/// The rustls client configuration of a destination: TLS 1.2 and 1.3, ring, HTTP/1.1 by ALPN.
fn client_config(url: &str, o: &TlsOptions) -> Result<Arc<rustls::ClientConfig>, ForwardError> {
    let ca_path = match &o.ca_file {
        Some(p) => p.clone(),
        None => std::env::var_os("SSL_CERT_FILE")
            .map(std::path::PathBuf::from)
            .or_else(|| {
                SYSTEM_CA_FILES
                    .iter()
                    .map(std::path::PathBuf::from)
                    .find(|p| p.is_file())
            })
            .ok_or_else(|| {
                tls_error(
                    url,
                    None,
                    format!(
                        "no certificate authorities: none of {} exists and SSL_CERT_FILE is not set; give a CA file",
                        SYSTEM_CA_FILES.join(", ")
                    ),
                )
            })?,
    };
    let mut roots = rustls::RootCertStore::empty();
    for c in certificates(url, &ca_path)? {
        roots.add(c).map_err(|e| {
            tls_error(
                url,
                Some(&ca_path),
                format!("a certificate is refused: {e}"),
            )
        })?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| tls_error(url, None, e.to_string()))?
    .with_root_certificates(roots);
    let mut cfg = match (&o.cert_file, &o.key_file) {
        (Some(c), Some(k)) => {
            let chain = certificates(url, c)?;
            let key = PrivateKeyDer::from_pem_slice(&read_pem(url, k)?)
                .map_err(|e| tls_error(url, Some(k), format!("no private key: {e}")))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| tls_error(url, Some(k), format!("the key and certificate: {e}")))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(tls_error(
                url,
                None,
                "a client certificate needs both its certificate and its key file".into(),
            ))
        }
    };
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// What the receiver made of one request.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// 2xx: stored.
    Ok,
    /// 5xx, 429, or no answer: send again, after `retry_after` if the receiver said so.
    Retry {
        why: String,
        retry_after: Option<Duration>,
    },
    /// Another status: the receiver will never take these samples.
    Rejected { status: u16, body: String },
}

type Sender = SendRequest<Full<Bytes>>;

/// The HTTP/1.1 handshake over a connected stream; the connection is driven by a task of its own.
async fn handshake<S>(stream: S) -> Result<Sender, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// A lazily (re)connected HTTP/1.1 connection.
pub(crate) struct Conn {
    target: Target,
    sender: Option<Sender>,
    timeout: Duration,
}

impl Conn {
    pub(crate) fn new(target: Target, timeout: Duration) -> Conn {
        Conn {
            target,
            sender: None,
            timeout,
        }
    }

    async fn connect(&mut self) -> Result<&mut Sender, String> {
        if self.sender.as_ref().is_some_and(|s| s.is_closed()) {
            self.sender = None;
        }
        if self.sender.is_none() {
            let stream =
                tokio::net::TcpStream::connect((self.target.host.as_str(), self.target.port))
                    .await
                    .map_err(|e| format!("connect: {e}"))?;
            let _ = stream.set_nodelay(true);
            let sender = match &self.target.tls {
                Some((connector, name)) => {
                    let tls = connector
                        .connect(name.clone(), stream)
                        .await
                        .map_err(|e| format!("TLS handshake: {e}"))?;
                    handshake(tls).await?
                }
                None => handshake(stream).await?,
            };
            self.sender = Some(sender);
        }
        self.sender
            .as_mut()
            .ok_or_else(|| "no connection".to_string())
    }

    /// Sends one snappy-compressed remote-write body of the target's protocol.
    pub(crate) async fn send(&mut self, body: Bytes) -> Outcome {
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, self.send_inner(body)).await {
            Ok(o) => o,
            Err(_) => {
                self.sender = None;
                Outcome::Retry {
                    why: format!("no answer within {timeout:?}"),
                    retry_after: None,
                }
            }
        }
    }

    async fn send_inner(&mut self, body: Bytes) -> Outcome {
        let t = &self.target;
        let protocol = t.protocol;
        let (content_type, version) = match protocol {
            Protocol::V1 => ("application/x-protobuf", "0.1.0"),
            Protocol::V2 => (
                "application/x-protobuf;proto=io.prometheus.write.v2.Request",
                "2.0.0",
            ),
        };
        let mut req = Request::post(t.path.as_str())
            .header(header::HOST, t.authority.as_str())
            .header(header::CONTENT_ENCODING, "snappy")
            .header(header::CONTENT_TYPE, content_type)
            .header(header::USER_AGENT, "tsdb-forward/0.1")
            .header("X-Prometheus-Remote-Write-Version", version);
        if let Some(a) = &t.authorization {
            req = req.header(header::AUTHORIZATION, a.as_str());
        }
        let req = match req.body(Full::new(body)) {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Rejected {
                    status: 0,
                    body: format!("cannot build the request: {e}"),
                }
            }
        };
        let sender = match self.connect().await {
            Ok(s) => s,
            Err(why) => {
                return Outcome::Retry {
                    why,
                    retry_after: None,
                }
            }
        };
        if let Err(e) = sender.ready().await {
            self.sender = None;
            return Outcome::Retry {
                why: format!("connection: {e}"),
                retry_after: None,
            };
        }
        let resp = match sender.send_request(req).await {
            Ok(r) => r,
            Err(e) => {
                self.sender = None;
                return Outcome::Retry {
                    why: format!("request: {e}"),
                    retry_after: None,
                };
            }
        };
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // Read the body so the connection can be reused; keep the start of it for messages.
        let body = match resp.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                self.sender = None;
                Bytes::new()
            }
        };
        let text = || {
            let s = String::from_utf8_lossy(&body[..body.len().min(512)]);
            s.trim().to_string()
        };
        if status.is_success() {
            Outcome::Ok
        } else if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            Outcome::Retry {
                why: format!("{status}: {}", text()),
                retry_after,
            }
        } else if status == StatusCode::UNSUPPORTED_MEDIA_TYPE && protocol == Protocol::V2 {
            // The receiver does not take 2.0: keeping the samples (in the WAL, up to the lag limit) until
            // the destination is fixed beats refusing them for good.
            Outcome::Retry {
                why: format!(
                    "{status}: the receiver does not accept remote write 2.0 (forward with protocol 1.0 instead): {}",
                    text()
                ),
                retry_after,
            }
        } else {
            Outcome::Rejected {
                status: status.as_u16(),
                body: text(),
            }
        }
    }
}
