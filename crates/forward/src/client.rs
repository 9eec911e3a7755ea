//! One HTTP/1.1 connection to a remote-write receiver, and what its answer means for the batch.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{header, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;

use crate::ForwardError;

/// The parts of a destination URL a connection needs.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub host: String,
    pub port: u16,
    pub authority: String,
    pub path: String,
    pub bearer: Option<String>,
}

impl Target {
    pub(crate) fn parse(url: &str, bearer: Option<String>) -> Result<Target, ForwardError> {
        let bad = |reason: &str| ForwardError::Url {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let uri: Uri = url.parse().map_err(|e| bad(&format!("not a URL: {e}")))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => return Err(bad("https is not supported yet; use http")),
            _ => return Err(bad("the URL must start with http://")),
        }
        let host = uri.host().ok_or_else(|| bad("no host"))?.to_string();
        let port = uri.port_u16().unwrap_or(80);
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
        Ok(Target {
            host,
            port,
            authority,
            path,
            bearer,
        })
    }
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

/// A lazily (re)connected HTTP/1.1 connection.
pub(crate) struct Conn {
    target: Target,
    sender: Option<SendRequest<Full<Bytes>>>,
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

    async fn connect(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, String> {
        if self.sender.as_ref().is_some_and(|s| s.is_closed()) {
            self.sender = None;
        }
        if self.sender.is_none() {
            let stream =
                tokio::net::TcpStream::connect((self.target.host.as_str(), self.target.port))
                    .await
                    .map_err(|e| format!("connect: {e}"))?;
            let _ = stream.set_nodelay(true);
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("handshake: {e}"))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            self.sender = Some(sender);
        }
        self.sender
            .as_mut()
            .ok_or_else(|| "no connection".to_string())
    }

    /// Sends one snappy-compressed remote write 1.0 body.
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
        let t = self.target.clone();
        let mut req = Request::post(t.path.as_str())
            .header(header::HOST, t.authority.as_str())
            .header(header::CONTENT_ENCODING, "snappy")
            .header(header::CONTENT_TYPE, "application/x-protobuf")
            .header(header::USER_AGENT, "tsdb-forward/0.1")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0");
        if let Some(token) = &t.bearer {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
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
        } else {
            Outcome::Rejected {
                status: status.as_u16(),
                body: text(),
            }
        }
    }
}
