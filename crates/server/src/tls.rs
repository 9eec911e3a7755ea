//! Optional TLS: a certificate chain and its private key read from PEM files ([`load_tls`]), and the
//! listener that completes TLS handshakes before a connection reaches the HTTP server.
//!
//! Handshakes run on their own tasks, each bounded by [`HANDSHAKE_TIMEOUT`], so a client that connects
//! and says nothing never holds up the others; a failed handshake closes that connection only and is
//! counted (`tsdb_server_tls_handshake_failures_total`). TLS 1.2 and 1.3 with rustls's safe defaults
//! (the `ring` provider), HTTP/1.1 offered by ALPN; no client certificates.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::AppState;

/// Longest a client may take to complete its TLS handshake before its connection is closed.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the certificate or key could not be used; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file could not be read.
    #[error("read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The certificate file holds no `CERTIFICATE` PEM section, or one that does not decode.
    #[error("{}: no usable PEM certificate ({what})", path.display())]
    Certificate {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        what: String,
    },
    /// The key file holds no PKCS#8, PKCS#1 or SEC1 private key in PEM.
    #[error("{}: no usable PEM private key ({what})", path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        what: String,
    },
    /// rustls refused the pair (for example, the key does not belong to the certificate).
    #[error("certificate {} with key {}: {source}", cert.display(), key.display())]
    Config {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls's reason.
        source: rustls::Error,
    },
}

/// Reads a PEM certificate chain (leaf first, as web servers expect it) and a PEM private key, and
/// returns the server configuration to put in [`Config::tls`](crate::Config::tls).
pub fn load_tls(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Certificate {
            path: cert.to_owned(),
            what: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::Certificate {
            path: cert.to_owned(),
            what: "no CERTIFICATE section".into(),
        });
    }
    let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::Key {
        path: key.to_owned(),
        what: e.to_string(),
    })?;
    let config_err = |source| TlsError::Config {
        cert: cert.to_owned(),
        key: key.to_owned(),
        source,
    };
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(config_err)?
    .with_no_client_auth()
    .with_single_cert(chain, private)
    .map_err(config_err)?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// A listener yielding connections whose TLS handshake has completed. Dropping it stops accepting.
pub(crate) struct TlsListener {
    ready: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    acceptor: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Starts accepting on `tcp`, handshaking with `cfg`; failures are counted in the server's metrics.
    pub(crate) fn spawn(
        tcp: TcpListener,
        cfg: Arc<rustls::ServerConfig>,
        state: Arc<AppState>,
    ) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let tls = TlsAcceptor::from(cfg);
        let (tx, ready) = tokio::sync::mpsc::channel(64);
        let acceptor = tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    // Out of file descriptors and the like: wait instead of spinning, as hyper does.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let (acc, ready, state) = (tls.clone(), tx.clone(), state.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acc.accept(stream)).await {
                        Ok(Ok(s)) => {
                            let _ = ready.send((s, peer)).await;
                        }
                        _ => state.metrics.tls_handshake_failed(),
                    }
                });
                if tx.is_closed() {
                    return;
                }
            }
        });
        Ok(TlsListener {
            ready,
            local,
            acceptor,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // The acceptor task ended (aborted); nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}
