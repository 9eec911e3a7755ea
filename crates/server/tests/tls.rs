//! HTTPS: the server with a throw-away self-signed certificate on 127.0.0.1 (port 0), a rustls client
//! that trusts only that certificate, and the certificate loader's errors.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tsdb::{Db, Options};
use tsdb_labels::parse_selector;
use tsdb_remote::v1::{Label, Sample, TimeSeries, WriteRequest};
use tsdb_remote::{snappy, Message};
use tsdb_server::tls::{load_tls, TlsError};
use tsdb_server::{Config, Server};

struct Cert {
    dir: tempfile::TempDir,
    der: CertificateDer<'static>,
}

impl Cert {
    fn new() -> Cert {
        let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cert.pem"), ck.cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), ck.key_pair.serialize_pem()).unwrap();
        Cert {
            der: ck.cert.der().clone(),
            dir,
        }
    }
    fn cert(&self) -> std::path::PathBuf {
        self.dir.path().join("cert.pem")
    }
    fn key(&self) -> std::path::PathBuf {
        self.dir.path().join("key.pem")
    }
}

fn client(trust: &CertificateDer<'static>) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trust.clone()).unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
}

/// One HTTPS request; `Err` when the TLS handshake fails.
async fn https(
    addr: SocketAddr,
    trust: &CertificateDer<'static>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<(u16, String), std::io::Error> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = ServerName::IpAddress(addr.ip().into());
    let tls = client(trust).connect(name, tcp).await?;
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = tx
        .send_request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let code = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Ok((code, String::from_utf8_lossy(&body).into_owned()))
}

fn write_body() -> Vec<u8> {
    let req = WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![Label::new("__name__", "tls_up"), Label::new("job", "a")],
            samples: vec![Sample {
                value: 1.5,
                timestamp: 1_700_000_000_000,
            }],
            ..Default::default()
        }],
    };
    snappy::compress(&req.encode_to_vec())
}

const WRITE_HEADERS: [(&str, &str); 3] = [
    ("content-type", "application/x-protobuf"),
    ("content-encoding", "snappy"),
    ("x-prometheus-remote-write-version", "0.1.0"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_and_refuses_plain_http_and_wrong_tokens() {
    let cert = Cert::new();
    let data = tempfile::tempdir().unwrap();
    let db = Arc::new(
        Db::open(
            data.path(),
            Options {
                background: false,
                ..Options::default()
            },
        )
        .unwrap(),
    );
    let cfg = Config {
        tls: Some(load_tls(&cert.cert(), &cert.key()).unwrap()),
        auth_token: Some("s3cret".into()),
        ..Config::default()
    };
    let server = Server::bind(db.clone(), "127.0.0.1:0".parse().unwrap(), cfg)
        .await
        .unwrap();
    assert!(server.is_tls());
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));

    let (code, body) = https(addr, &cert.der, "GET", "/-/healthy", &[], vec![])
        .await
        .unwrap();
    assert_eq!((code, body.as_str()), (200, "tsdb-server is Healthy.\n"));

    // A wrong token over TLS: 403 and nothing stored.
    let mut h = WRITE_HEADERS.to_vec();
    h.push(("authorization", "Bearer nope"));
    let (code, _) = https(addr, &cert.der, "POST", "/api/v1/write", &h, write_body())
        .await
        .unwrap();
    assert_eq!(code, 403);
    let sel = parse_selector("{__name__=\"tls_up\"}").unwrap();
    assert!(db
        .querier(i64::MIN, i64::MAX)
        .select_all(&sel)
        .unwrap()
        .is_empty());

    // The right token: stored.
    let mut h = WRITE_HEADERS.to_vec();
    h.push(("authorization", "Bearer s3cret"));
    let (code, body) = https(addr, &cert.der, "POST", "/api/v1/write", &h, write_body())
        .await
        .unwrap();
    assert_eq!(code, 204, "{body}");
    let got = db.querier(i64::MIN, i64::MAX).select_all(&sel).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].samples, vec![(1_700_000_000_000, 1.5)]);

    // Plain HTTP on the TLS port gets no HTTP answer, and a client trusting another certificate fails
    // its handshake; neither disturbs the server.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET /-/healthy HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(15),
        plain.read_to_end(&mut buf),
    )
    .await
    .expect("the server closes a connection that is not TLS");
    assert!(
        !buf.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&buf)
    );
    let other = Cert::new();
    assert!(https(addr, &other.der, "GET", "/-/healthy", &[], vec![])
        .await
        .is_err());

    let (code, metrics) = https(
        addr,
        &cert.der,
        "GET",
        "/metrics",
        &[("authorization", "Bearer s3cret")],
        vec![],
    )
    .await
    .unwrap();
    assert_eq!(code, 200);
    let failures = metrics
        .lines()
        .find_map(|l| l.strip_prefix("tsdb_server_tls_handshake_failures_total "))
        .unwrap();
    assert!(failures.parse::<u64>().unwrap() >= 1, "{failures}");

    let _ = stop.send(());
    task.await.unwrap().unwrap();
}

#[test]
fn certificate_errors_name_the_file() {
    let cert = Cert::new();
    let missing = cert.dir.path().join("missing.pem");
    match load_tls(&missing, &cert.key()) {
        Err(e @ TlsError::Read { .. }) => assert!(e.to_string().contains("missing.pem"), "{e}"),
        other => panic!("{other:?}"),
    }
    // Certificate and key swapped: the "certificate" file has no certificate.
    match load_tls(&cert.key(), &cert.cert()) {
        Err(e @ TlsError::Certificate { .. }) => {
            assert!(e.to_string().contains("key.pem"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    // A key that belongs to another certificate.
    let other = Cert::new();
    match load_tls(&cert.cert(), &other.key()) {
        Err(e @ TlsError::Config { .. }) => assert!(e.to_string().contains("cert.pem"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(load_tls(Path::new(&cert.cert()), &cert.key()).is_ok());
}
