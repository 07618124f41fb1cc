//! The HTTP front door: accepts TCP connections and serves each with hyper
//! (HTTP/1.1 with WebSocket upgrades), within limits a stranger on the
//! internet cannot talk the service out of.
//!
//! - At most [`ConnectionLimits::per_ip`] connections are open at once from
//!   one IP address; one more is closed as soon as it is accepted and
//!   counted (`parley_http_connections_refused_total`).
//! - A whole request head (request line and headers) must arrive within
//!   [`ConnectionLimits::head_timeout`] of the connection being ready for
//!   one (accepted, or idle after a response), or the connection is
//!   closed: a slow-loris client, which sends its headers a byte at a
//!   time, or one that sends nothing, holds a connection that long at
//!   most. This is hyper's own head timeout, which needs a timer;
//!   `axum::serve` sets none, so there it never fires, which is why the
//!   service has its own accept loop. A WebSocket, once upgraded, is the
//!   live session's to end.

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// What one client may hold of the HTTP service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once from one IP address (a NAT of a visiting
    /// centre, or a prison's kiosks, shares one).
    pub per_ip: usize,
    /// Longest wait for a whole request head on a connection ready for one.
    pub head_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            per_ip: 256,
            head_timeout: Duration::from_secs(10),
        }
    }
}

/// Connections open per IP address. Pure.
#[derive(Debug, Default)]
pub struct OpenConnections {
    by_ip: HashMap<IpAddr, usize>,
}

impl OpenConnections {
    /// Counts a new connection from `ip` if fewer than `limit` are open.
    pub fn open(&mut self, ip: IpAddr, limit: usize) -> bool {
        let open = self.by_ip.entry(ip).or_default();
        if *open >= limit {
            return false;
        }
        *open += 1;
        true
    }

    /// Forgets one connection from `ip`.
    pub fn close(&mut self, ip: IpAddr) {
        if let Some(open) = self.by_ip.get_mut(&ip) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                self.by_ip.remove(&ip);
            }
        }
    }

    /// Connections open from `ip`.
    pub fn from(&self, ip: IpAddr) -> usize {
        self.by_ip.get(&ip).copied().unwrap_or(0)
    }
}

/// Counts a connection as open while it lives.
struct Counted {
    open: Arc<Mutex<OpenConnections>>,
    ip: IpAddr,
}

impl Drop for Counted {
    fn drop(&mut self) {
        if let Ok(mut open) = self.open.lock() {
            open.close(self.ip);
        }
    }
}

/// Serves `app` on `listener` until the task is dropped. `refused` counts
/// connections closed for the per-IP limit.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    refused: prometheus::IntCounter,
) -> std::io::Result<()> {
    let open = Arc::new(Mutex::new(OpenConnections::default()));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of descriptors, or a connection reset before it was
            // taken: the listener itself is fine; wait a moment and go on.
            Err(e) => {
                tracing::warn!(error = %e, "accepting an HTTP connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let ip = peer.ip();
        let admitted = open
            .lock()
            .map(|mut o| o.open(ip, limits.per_ip))
            .unwrap_or(false);
        if !admitted {
            refused.inc();
            drop(stream);
            continue;
        }
        let counted = Counted {
            open: open.clone(),
            ip,
        };
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let _counted = counted;
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.head_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
            if let Err(e) = served {
                tracing::debug!(error = %e, "HTTP connection ended with an error");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_at_most_its_limit_and_gets_back_what_it_closes() {
        let mut open = OpenConnections::default();
        let a = IpAddr::from([192, 0, 2, 1]);
        let b = IpAddr::from([192, 0, 2, 2]);
        assert!(open.open(a, 2));
        assert!(open.open(a, 2));
        assert!(!open.open(a, 2), "a third is refused");
        assert!(open.open(b, 2), "another address is not held up");
        open.close(a);
        assert_eq!(open.from(a), 1);
        assert!(open.open(a, 2));
        open.close(a);
        open.close(a);
        open.close(a);
        assert_eq!(
            open.from(a),
            0,
            "closing more than was opened stays at zero"
        );
    }
}
