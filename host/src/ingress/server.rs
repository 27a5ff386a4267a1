//! The HTTP server: accepts connections (TCP_NODELAY, a cap on open
//! connections, a deadline for each request head), serves HTTP/1.1 and
//! HTTP/2 with hyper, counts every response by endpoint and status, and on
//! shutdown stops accepting, drains open requests and flushes usage writes.
//! It never looks inside a request: [`super::dispatch`] does.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use super::Body;
use super::dispatch::dispatch;
use super::request_id::{self, RequestId};
use crate::gateway::Gateway;

/// Serve on `listener` until `shutdown` resolves; then stop accepting (the
/// listening socket is closed, so new connections are refused) and let open
/// requests and streams finish, up to `server.drain_timeout_ms`.
///
/// At most `server.max_connections` connections are open at once; more wait
/// in the listen backlog until one closes. A client gets
/// `server.header_read_timeout_ms` to send each request head (HTTP/1) — an
/// idle or trickling connection is closed after it, so slow clients cannot
/// hold connection slots forever.
pub async fn serve(
    gw: Arc<Gateway>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let server = gw.current().config.server.clone();
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let header_timeout = std::time::Duration::from_millis(server.header_read_timeout_ms);
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_timeout);
    let slots = Arc::new(tokio::sync::Semaphore::new(server.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (stream, _peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // Without TCP_NODELAY a keep-alive response written in two pieces
        // waits ~40 ms for the client's delayed ACK.
        let _ = stream.set_nodelay(true);
        let gw = gw.clone();
        let service = hyper::service::service_fn(move |req| {
            let gw = gw.clone();
            async move { Ok::<_, Infallible>(handle(&gw, req).await) }
        });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            // hyper's header timer starts only once the first bytes arrived
            // (the protocol is sniffed from them), so a client that connects
            // and sends nothing is hung up on here.
            let mut first = [0u8; 1];
            match tokio::time::timeout(header_timeout, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            let _ = watcher.watch(conn.into_owned()).await;
            drop(slot);
        });
    }
    drop(listener);
    let open = server.max_connections.max(1) - slots.available_permits();
    tracing::info!(
        connections = open,
        drain_timeout_ms = server.drain_timeout_ms,
        "shutting down: no longer accepting; waiting for open requests to finish"
    );
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all requests finished; exiting"),
        _ = tokio::time::sleep(std::time::Duration::from_millis(server.drain_timeout_ms)) => {
            tracing::warn!(
                "requests still open after the drain timeout of {} ms; closing them",
                server.drain_timeout_ms
            );
        }
    }
    // Usage of the answers already sent goes to the limit store before the
    // process exits (each write is bounded by `[limits] timeout_ms`).
    let pending = gw.limiter.pending_writes();
    if pending > 0 {
        let within = std::time::Duration::from_millis(2_000);
        if gw.limiter.flush(within).await {
            tracing::info!(writes = pending, "usage written to the limit store");
        } else {
            tracing::warn!(
                writes = pending,
                "usage writes to the limit store did not finish within 2 s; exiting without them"
            );
        }
    }
    // Records of the requests answered go to the request log.
    if let Some(log) = gw.ledger.log()
        && !log.flush(std::time::Duration::from_millis(3_000)).await
    {
        tracing::warn!(
            queued = log.queue_depth(),
            "the request log's writer did not finish within 3 s; exiting without those records"
        );
    }
    Ok(())
}

/// Bind a listener.
pub async fn bind(addr: &str) -> anyhow::Result<TcpListener> {
    let addr: SocketAddr = addr
        .parse()
        .map_err(|_| anyhow::anyhow!("`{addr}` is not an address like 127.0.0.1:7777"))?;
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}

async fn handle(gw: &Arc<Gateway>, req: Request<Incoming>) -> Response<Body> {
    let endpoint = match req.uri().path() {
        "/v1/chat/completions" | "/chat/completions" => "chat_completions",
        "/v1/messages" => "messages",
        "/v1/models" | "/models" => "models",
        "/v1/feedback" => "feedback",
        "/healthz" => "healthz",
        "/metrics" => "metrics",
        p if p.starts_with("/admin/") => "admin",
        _ => "other",
    };
    let id = RequestId::of(req.headers());
    let header = HeaderValue::from_str(id.as_str());
    let mut resp = id.scope(dispatch(gw, req)).await;
    gw.router.stats.count_http(endpoint, resp.status().as_u16());
    if let Ok(v) = header {
        resp.headers_mut().insert(request_id::HEADER, v);
    }
    resp
}
