//! `serve`: the database on the network (`tsdb-server`): remote write in, remote read, PromQL and the
//! metadata API out, `/metrics`; until SIGTERM or SIGINT, then a clean close.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::open::{db_error, open_db_create, ForwardArgs, WriteArgs};

#[derive(Debug, Args)]
#[command(
    long_about = "Serve a database over HTTP until SIGTERM or SIGINT: Prometheus, Grafana, the OpenTelemetry \
        Collector and other clients of the Prometheus ecosystem write to it and read from it as they \
        would from a Prometheus.\n\n\
        Endpoints:\n  \
        POST /api/v1/write\n      Prometheus remote write 1.0 and 2.0 (snappy protobuf; \
        `Content-Type: application/x-protobuf;proto=io.prometheus.write.v2.Request` for 2.0). 204 once \
        the batch is in the WAL under --sync; 400 with one line per rejected sample (its place, labels \
        and why) while the valid ones are stored; 415 for another type or encoding; 413 over a limit; \
        5xx only when the sender should retry. A resent batch is accepted without storing anything \
        twice; stale markers are stored bit for bit.\n  \
        POST /api/v1/read\n      Prometheus remote read: SAMPLES or STREAMED_XOR_CHUNKS, \
        streamed one series at a time.\n  \
        POST /api/v1/otlp/v1/metrics\n      OTLP/HTTP metrics (protobuf), named as Prometheus's OTLP \
        translator names them.\n  \
        POST /api/v1/import/prometheus\n      Prometheus text, OpenMetrics or Influx line protocol; bad \
        lines reported, the rest stored.\n  \
        GET|POST /api/v1/query, /api/v1/query_range\n      PromQL, instant (query, time, timeout) and \
        range (query, start, end, step, timeout), answered in Prometheus's JSON; errors typed as \
        Prometheus types them (bad_data 400, execution 422, timeout 503). At most 11,000 points per \
        series; --query.max-samples, --query.max-concurrency and --query.timeout bound them. \
        /api/v1/query_exemplars answers an empty list.\n  \
        GET  /api/v1/labels, /api/v1/label/NAME/values, /api/v1/series\n      The metadata API with \
        match[], start, end, limit, in Prometheus's JSON envelope.\n  \
        GET  /api/v1/status/buildinfo, /api/v1/status/tsdb\n      Build information; head statistics and \
        top cardinality.\n  \
        GET  /metrics\n      This server's and the engine's metrics in the Prometheus \
        text format (scrape it).\n  \
        GET  /-/healthy, /-/ready\n      Health checks (never need a token).\n\n\
        The database is opened as `append` opens it (created if missing, locked, the WAL replayed) with \
        its background maintenance: the head is persisted as blocks, blocks compacted and retention \
        applied while it serves. One line on stderr says where it listens and what it holds. On \
        SIGTERM or SIGINT it stops accepting connections, lets requests in flight finish, closes the \
        database (the WAL fsynced) and exits 0.\n\n\
        It listens on loopback unless --listen says otherwise; with --auth-token-file every endpoint but \
        the health checks needs `Authorization: Bearer TOKEN` (401 without, 403 with a wrong one). \
        With --tls-cert-file and --tls-key-file it serves HTTPS only (TLS 1.2 and 1.3, rustls). \
        --max-body-bytes, --max-decoded-bytes and --max-samples-per-request bound one request, \
        --max-concurrent-requests and --request-timeout the server.\n\n\
        With --forward-to URL (repeatable) every sample it stores is also sent on, from the WAL, to \
        remote-write receivers (Prometheus, Mimir, Cortex, Thanos Receive, VictoriaMetrics): at least \
        once, in order per series, resuming after a restart where the receiver acknowledged; the \
        --forward-* flags set the protocol, TLS, authentication, shards and how far behind a destination \
        may fall. With --agent it keeps nothing itself and only forwards.",
    after_help = "Examples:\n  \
        tsdb-cli serve --data-dir data\n  \
        tsdb-cli serve --data-dir data --listen 0.0.0.0:9201 --auth-token-file token --sync always\n  \
        tsdb-cli serve --data-dir data --tls-cert-file cert.pem --tls-key-file key.pem\n  \
        tsdb-cli serve --data-dir data --forward-to https://mimir:8080/api/v1/push --forward-token-file token\n  \
        tsdb-cli serve --agent --data-dir agent --forward-to http://prometheus:9090/api/v1/write\n  \
        curl -s 'http://127.0.0.1:9201/api/v1/series?match[]=up'\n  \
        curl -s 'http://127.0.0.1:9201/api/v1/query_range' --data-urlencode 'query=sum by (job) (rate(http_requests_total[5m]))' \\\n      -d start=2026-12-01T00:00:00Z -d end=2026-12-01T06:00:00Z -d step=60\n  \
        promtool query instant http://127.0.0.1:9201 'up == 0'\n  \
        curl -s --data-binary @metrics.prom http://127.0.0.1:9201/api/v1/import/prometheus\n  \
        tsdb-cli bench remote-write --url http://127.0.0.1:9201/api/v1/write series.jsonl\n\n\
        Prometheus sending to it and reading from it (prometheus.yml):\n  \
        remote_write:\n    - url: http://127.0.0.1:9201/api/v1/write\n  \
        remote_read:\n    - url: http://127.0.0.1:9201/api/v1/read\n      read_recent: true"
)]
pub struct ServeArgs {
    /// The database directory (created if missing).
    #[arg(long, short = 'd', default_value = "data", value_name = "DIR")]
    pub data_dir: PathBuf,

    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:9201", value_name = "ADDR:PORT")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub write: WriteArgs,

    #[command(flatten)]
    pub forward: ForwardArgs,

    /// Agent mode, as Prometheus's `--enable-feature=agent`, for machines that only collect and ship:
    /// every sample written to it goes to the WAL and on to the --forward-to destinations; no head
    /// chunks or blocks are kept and the WAL's segments are removed once every destination
    /// acknowledged them. The query, metadata, status and remote-read endpoints answer 422
    /// "unavailable with Prometheus Agent". Give it a directory of its own (one holding blocks is
    /// refused).
    #[arg(long, requires = "forward_to")]
    pub agent: bool,

    /// Delete blocks older than this many hours behind the newest data (default: keep everything).
    #[arg(long, value_name = "HOURS")]
    pub retention_hours: Option<u64>,

    /// A file holding the bearer token clients must send (surrounding whitespace ignored).
    #[arg(long, value_name = "FILE")]
    pub auth_token_file: Option<PathBuf>,

    /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key-file.
    #[arg(long, value_name = "FILE", requires = "tls_key_file")]
    pub tls_cert_file: Option<PathBuf>,

    /// The PEM private key (PKCS#8, PKCS#1 or SEC1) of --tls-cert-file.
    #[arg(long, value_name = "FILE", requires = "tls_cert_file")]
    pub tls_key_file: Option<PathBuf>,

    /// Largest request body accepted, in bytes, before decompression.
    #[arg(long, default_value_t = 32 << 20, value_name = "BYTES")]
    pub max_body_bytes: usize,

    /// Largest remote write or read request after decompression, in bytes (checked against snappy's
    /// declared length before anything is allocated).
    #[arg(long, default_value_t = 256 << 20, value_name = "BYTES")]
    pub max_decoded_bytes: usize,

    /// Most samples one remote write request may carry.
    #[arg(long, default_value_t = 1_000_000, value_name = "N")]
    pub max_samples_per_request: usize,

    /// Requests handled at once; more wait their turn.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub max_concurrent_requests: usize,

    /// Seconds before an unanswered request gets a 503 (PromQL queries have --query.timeout instead).
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub request_timeout: u64,

    /// Most samples one PromQL query may hold in memory at once; over it the query fails with
    /// `execution` (422), as Prometheus's flag of the same name.
    #[arg(
        long = "query.max-samples",
        default_value_t = 50_000_000,
        value_name = "N"
    )]
    pub query_max_samples: usize,

    /// PromQL queries evaluated at once; more wait their turn.
    #[arg(long = "query.max-concurrency", default_value_t = 20, value_name = "N")]
    pub query_max_concurrency: usize,

    /// Longest a PromQL query may run before it fails with `timeout` (503); a request's `timeout`
    /// parameter can only shorten it. A duration (`2m`, `90s`) or seconds.
    #[arg(long = "query.timeout", default_value = "2m", value_name = "DURATION", value_parser = crate::timefmt::positive_duration)]
    pub query_timeout: Duration,

    /// How far back an instant selector looks for a sample.
    #[arg(long = "query.lookback-delta", default_value = "5m", value_name = "DURATION", value_parser = crate::timefmt::positive_duration)]
    pub query_lookback_delta: Duration,

    /// Log every PromQL query that takes at least this long as one JSON line on stderr (query, times,
    /// duration, samples loaded). Default: no query log.
    #[arg(long = "query.slow-log-threshold", value_name = "DURATION", value_parser = crate::timefmt::positive_duration)]
    pub query_slow_log_threshold: Option<Duration>,
}

/// Runs the server until a signal, then closes the database.
pub fn run(args: &ServeArgs) -> Result<()> {
    let token = match &args.auth_token_file {
        Some(p) => {
            let t = std::fs::read_to_string(p)
                .with_context(|| format!("read token file {}", p.display()))?;
            let t = t.trim().to_owned();
            if t.is_empty() {
                bail!("token file {} is empty", p.display());
            }
            Some(t)
        }
        None => None,
    };
    let tls = match (&args.tls_cert_file, &args.tls_key_file) {
        (Some(cert), Some(key)) => Some(tsdb_server::tls::load_tls(cert, key)?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut opts = tsdb::Options {
        background: true,
        agent: args.agent,
        // An agent removes a segment once every destination acknowledged it: smaller segments keep
        // less on disk when caught up (16 MiB rather than 256).
        wal_segment_size: if args.agent {
            AGENT_WAL_SEGMENT_SIZE
        } else {
            tsdb::Options::default().wal_segment_size
        },
        retention_time: args.retention_hours.map(|h| h as i64 * 3_600_000),
        ..args.write.options(&args.data_dir)
    };
    // At shutdown, give the destinations a few seconds to acknowledge the last writes.
    args.forward.apply(&mut opts, Duration::from_secs(10))?;
    let wal_mode = format!("{:?}", opts.wal_mode).to_lowercase();
    let sync = match opts.sync {
        tsdb::SyncPolicy::Always => "always".to_owned(),
        tsdb::SyncPolicy::Never => "never".to_owned(),
        other => format!("{other:?}").to_lowercase(),
    };
    let db = Arc::new(open_db_create(&args.data_dir, opts)?);
    let cfg = tsdb_server::Config {
        max_body_bytes: args.max_body_bytes,
        max_decoded_bytes: args.max_decoded_bytes,
        max_samples_per_request: args.max_samples_per_request,
        auth_token: token,
        max_concurrent_requests: args.max_concurrent_requests,
        request_timeout: Duration::from_secs(args.request_timeout),
        tls,
        max_query_samples: args.query_max_samples,
        max_concurrent_queries: args.query_max_concurrency,
        query_timeout: args.query_timeout,
        lookback_delta: args.query_lookback_delta,
        slow_query_threshold: args.query_slow_log_threshold,
        ..tsdb_server::Config::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    let served: Result<()> =
        rt.block_on(async {
            let server = tsdb_server::Server::bind(db.clone(), args.listen, cfg)
                .await
                .with_context(|| format!("listen on {}", args.listen))?;
            let addr = server.local_addr().context("listening address")?;
            let stop = shutdown_signal()?;
            eprintln!(
            "serving {scheme}://{addr} data dir {} wal {wal_mode} sync {sync} series {} retention {}{}{}",
            args.data_dir.display(),
            db.head().num_series(),
            args.retention_hours
                .map(|h| format!("{h}h"))
                .unwrap_or_else(|| "none".into()),
            if args.auth_token_file.is_some() { " auth bearer" } else { "" },
            if args.agent { " agent (no chunks or blocks kept; forwarding only)" } else { "" },
        );
            for f in db.forward_metrics() {
                eprintln!("forwarding to {}", forward_status(&f));
            }
            // Every minute, a line for each destination that is behind.
            let watched = db.clone();
            let status = tokio::spawn(async move {
                let mut every = tokio::time::interval(FORWARD_STATUS_EVERY);
                every.tick().await;
                loop {
                    every.tick().await;
                    for f in watched.forward_metrics() {
                        if f.lag_bytes > 0 || f.samples_pending > 0 {
                            eprintln!("forward: {}", forward_status(&f));
                        }
                    }
                }
            });
            let r = server.run(stop).await.context("serve");
            status.abort();
            r
        });
    for f in db.forward_metrics() {
        eprintln!(
            "forward before close (draining up to 10 s): {}",
            forward_status(&f)
        );
    }
    // Streamed responses end with their blocking producers; give those a moment to let go of the Db.
    drop(rt);
    let mut db = db;
    let deadline = Instant::now() + Duration::from_secs(30);
    let db = loop {
        match Arc::try_unwrap(db) {
            Ok(d) => break d,
            Err(d) if Instant::now() < deadline => {
                db = d;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(_) => bail!("requests still hold the database after 30 s; not closed"),
        }
    };
    db.close().map_err(db_error)?;
    eprintln!("stopped: database closed");
    served
}

/// WAL segment size of `serve --agent`.
const AGENT_WAL_SEGMENT_SIZE: u64 = 16 << 20;

/// How often `serve` reports a destination that is behind.
const FORWARD_STATUS_EVERY: Duration = Duration::from_secs(60);

/// One destination's state for the status lines: where it stands, how far behind, what it counted.
fn forward_status(f: &tsdb::ForwardMetrics) -> String {
    format!(
        "{} {} bytes behind (at WAL segment {} offset {}); sent {}, failed {}, retried {}, dropped {}, {} shards",
        f.url,
        f.lag_bytes,
        f.position.segment,
        f.position.offset,
        f.samples_sent,
        f.samples_failed,
        f.samples_retried,
        f.samples_dropped,
        f.shards
    )
}

/// Registers SIGTERM and SIGINT handlers now (so a signal sent right after the banner is not missed) and
/// returns a future that completes at the first of them.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("install the SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("install the SIGINT handler")?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
