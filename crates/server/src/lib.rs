//! The engine on the network: an HTTP server over a [`tsdb::Db`] that Prometheus-ecosystem clients use
//! unchanged. `POST /api/v1/write` receives remote write 1.0 and 2.0 ([`mod@write`]), `POST /api/v1/read`
//! answers remote read with samples or streamed XOR chunks ([`read`]), `/api/v1/labels`,
//! `/api/v1/label/<name>/values` and `/api/v1/series` serve the metadata API in Prometheus's JSON envelope
//! ([`api`]), `/api/v1/query` and `/api/v1/query_range` evaluate PromQL ([`query`]), `POST /api/v1/import/prometheus` takes text formats ([`import`]), `POST /api/v1/otlp/v1/metrics` OTLP metrics ([`otlp`]), `/metrics` the server's and engine's own metrics ([`metrics`]), and `/-/healthy`, `/-/ready`.
//!
//! Protocol messages come from `tsdb-remote`; storage from `tsdb`. Appends and reads run on tokio's blocking
//! threads, so no database lock is ever held across an `await`. The binary (`tsdb-cli serve`) owns flags,
//! signals and the banner.

pub mod api;
pub mod import;
pub mod metrics;
pub mod otlp;
pub mod query;
pub mod read;
pub mod tls;
pub mod write;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tsdb::Db;

/// Limits and access settings of a [`Server`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest request body accepted as sent (compressed), in bytes. Default 32 MiB.
    pub max_body_bytes: usize,
    /// Largest decompressed remote write or read request, in bytes; checked against snappy's declared
    /// length before anything is allocated. Default 256 MiB.
    pub max_decoded_bytes: usize,
    /// Most samples one remote write request may carry. Default 1,000,000.
    pub max_samples_per_request: usize,
    /// Most samples one remote read query may return in a `SAMPLES` response. Default 50,000,000.
    pub max_samples_per_query: usize,
    /// Bearer token required on every endpoint except `/-/healthy` and `/-/ready`. Default none.
    pub auth_token: Option<String>,
    /// Requests handled at once; more wait for a turn. Default 64.
    pub max_concurrent_requests: usize,
    /// A request not answered within this time gets a 503 (its work is abandoned, a commit already
    /// started still completes). Default 60 s.
    pub request_timeout: std::time::Duration,
    /// Serve HTTPS with this configuration (see [`tls::load_tls`]) instead of plain HTTP. Default none.
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    /// Most samples one PromQL query may hold at once (`--query.max-samples`). Default 50,000,000.
    pub max_query_samples: usize,
    /// PromQL queries evaluated at once (`--query.max-concurrency`); more wait for a turn. Default 20.
    pub max_concurrent_queries: usize,
    /// Longest a PromQL query may run (`--query.timeout`); a query's own `timeout` can only shorten it.
    /// Default 2 minutes.
    pub query_timeout: std::time::Duration,
    /// How far back a selector looks for a sample (`--query.lookback-delta`). Default 5 minutes.
    pub lookback_delta: std::time::Duration,
    /// Log queries that take at least this long as a JSON line on standard error. Default none.
    pub slow_query_threshold: Option<std::time::Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_body_bytes: 32 << 20,
            max_decoded_bytes: 256 << 20,
            max_samples_per_request: 1_000_000,
            max_samples_per_query: 50_000_000,
            auth_token: None,
            max_concurrent_requests: 64,
            request_timeout: std::time::Duration::from_secs(60),
            tls: None,
            max_query_samples: 50_000_000,
            max_concurrent_queries: 20,
            query_timeout: std::time::Duration::from_secs(120),
            lookback_delta: std::time::Duration::from_secs(300),
            slow_query_threshold: None,
        }
    }
}

/// What every handler shares.
pub(crate) struct AppState {
    pub db: Arc<Db>,
    pub cfg: Config,
    pub metrics: metrics::Metrics,
    pub ready: AtomicBool,
    pub permits: tokio::sync::Semaphore,
    pub query_permits: tokio::sync::Semaphore,
    pub engine: tsdb_promql::Engine,
}

/// A bound, not yet running server.
pub struct Server {
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port; see [`local_addr`](Self::local_addr)).
    pub async fn bind(db: Arc<Db>, addr: SocketAddr, cfg: Config) -> std::io::Result<Server> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        Ok(Server {
            listener,
            state: Arc::new(AppState {
                db,
                metrics: metrics::Metrics::default(),
                ready: AtomicBool::new(true),
                permits: tokio::sync::Semaphore::new(cfg.max_concurrent_requests.max(1)),
                query_permits: tokio::sync::Semaphore::new(cfg.max_concurrent_queries.max(1)),
                engine: tsdb_promql::Engine::new(tsdb_promql::EngineOptions {
                    lookback_delta_ms: cfg.lookback_delta.as_millis() as i64,
                    max_samples: cfg.max_query_samples,
                }),
                cfg,
            }),
        })
    }

    /// Whether it serves HTTPS ([`Config::tls`]).
    pub fn is_tls(&self) -> bool {
        self.state.cfg.tls.is_some()
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then stops accepting and returns once in-flight requests have
    /// finished (streamed responses included).
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = router(self.state.clone());
        let state = self.state.clone();
        let stopping = async move {
            shutdown.await;
            state.ready.store(false, Ordering::Relaxed);
        };
        match self.state.cfg.tls.clone() {
            Some(tls) => {
                let listener = tls::TlsListener::spawn(self.listener, tls, self.state.clone())?;
                axum::serve(listener, app)
                    .with_graceful_shutdown(stopping)
                    .await
            }
            None => {
                use axum::serve::ListenerExt;
                let listener = self.listener.tap_io(|tcp| {
                    // Responses are small and latency matters to senders waiting for their 2xx.
                    let _ = tcp.set_nodelay(true);
                });
                axum::serve(listener, app)
                    .with_graceful_shutdown(stopping)
                    .await
            }
        }
    }
}

fn router(state: Arc<AppState>) -> Router {
    let limit = state.cfg.max_body_bytes;
    // What reads stored samples: in agent mode (`Db::is_agent`) answered as Prometheus's agent does.
    let reads = Router::new()
        .route("/api/v1/read", post(read::handle))
        .route("/api/v1/labels", get(api::labels).post(api::labels))
        .route("/api/v1/label/{name}/values", get(api::label_values))
        .route("/api/v1/series", get(api::series).post(api::series))
        .route("/api/v1/status/tsdb", get(api::status_tsdb))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            agent_refuses,
        ));
    let protected = Router::new()
        .route("/api/v1/write", post(write::handle))
        .route("/api/v1/import/prometheus", post(import::handle))
        .route("/api/v1/otlp/v1/metrics", post(otlp::handle))
        .route("/api/v1/status/buildinfo", get(api::buildinfo))
        .route("/metrics", get(metrics::handle))
        .merge(reads)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            throttle,
        ))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth));
    // PromQL queries have their own concurrency limit and deadline (`Config::query_timeout`), so they
    // are not under the request throttle.
    let queries = Router::new()
        .route("/api/v1/query", get(query::instant).post(query::instant))
        .route("/api/v1/query_range", get(query::range).post(query::range))
        .route(
            "/api/v1/query_exemplars",
            get(query::exemplars).post(query::exemplars),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            agent_refuses,
        ))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth));
    Router::new()
        .merge(protected)
        .merge(queries)
        .route("/-/healthy", get(|| async { "tsdb-server is Healthy.\n" }))
        .route("/-/ready", get(ready))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

async fn ready(State(st): State<Arc<AppState>>) -> Response {
    if st.ready.load(Ordering::Relaxed) {
        "tsdb-server is Ready.\n".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    }
}

/// In agent mode the database keeps no samples: 422 `unavailable with Prometheus Agent`, as Prometheus
/// 2.42 with `--enable-feature=agent` answers its query, metadata and status APIs.
async fn agent_refuses(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if st.db.is_agent() {
        return api::ApiError::agent().into_response();
    }
    next.run(req).await
}

/// Bearer-token check: 401 without a token, 403 with a wrong one; nothing behind it runs.
async fn auth(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if let Some(want) = &st.cfg.auth_token {
        let got = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match got {
            None => {
                return (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Bearer")],
                    "missing bearer token\n",
                )
                    .into_response()
            }
            Some(t) if !constant_time_eq(t.as_bytes(), want.as_bytes()) => {
                return (StatusCode::FORBIDDEN, "wrong bearer token\n").into_response()
            }
            Some(_) => {}
        }
    }
    next.run(req).await
}

/// The concurrency limit and the request timeout. A streamed response's body continues after this
/// returns; the limit counts it until its headers are sent.
async fn throttle(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let Ok(_permit) = st.permits.acquire().await else {
        return text(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    };
    match tokio::time::timeout(st.cfg.request_timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("request not answered within {:?}", st.cfg.request_timeout),
        ),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Counts every request by route and status, and times it.
async fn observe(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "other".into());
    let start = Instant::now();
    let resp = next.run(req).await;
    st.metrics
        .observe_request(&path, resp.status().as_u16(), start.elapsed());
    resp
}

/// A plain-text error response.
pub(crate) fn text(code: StatusCode, msg: impl Into<String>) -> Response {
    let mut m = msg.into();
    if !m.ends_with('\n') {
        m.push('\n');
    }
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        m,
    )
        .into_response()
}
