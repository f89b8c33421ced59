//! The local modes' settings: the invoke endpoint's and the front door's addresses, the
//! front door's event format, `--watch` and `--debug`.

use std::net::SocketAddr;

use super::settings::Settings;
use super::{env, ConfigError};

pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    8080,
));
/// The front door's default address in serve mode (as `sam local start-api`).
pub const DEFAULT_HTTP_LISTEN: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    3000,
));

/// The invoke endpoint's and the front door's defaults: loopback on a developer's machine; all
/// interfaces inside a container (as RIE listens there), where loopback cannot be reached
/// through a mapped port.
pub(super) fn local_defaults(in_container: bool) -> (SocketAddr, SocketAddr) {
    if !in_container {
        return (DEFAULT_LISTEN, DEFAULT_HTTP_LISTEN);
    }
    let any = std::net::Ipv4Addr::UNSPECIFIED;
    let at = |port| SocketAddr::V4(std::net::SocketAddrV4::new(any, port));
    (at(8080), at(3000))
}

/// The event the HTTP front door sends for a plain HTTP request (`FERRIC_HTTP_EVENT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpEvent {
    /// API Gateway HTTP API payload format 2.0, as function URLs send it.
    #[default]
    V2,
    /// API Gateway REST API proxy payload format 1.0.
    V1,
}

impl HttpEvent {
    fn parse(value: &str) -> Option<HttpEvent> {
        match value.to_ascii_lowercase().as_str() {
            "v2" | "2.0" => Some(HttpEvent::V2),
            "v1" | "1.0" => Some(HttpEvent::V1),
            _ => None,
        }
    }
}

/// `FERRIC_HTTP_LISTEN`: an address, or `off` (None).
fn http_listen(value: &str) -> Option<Option<SocketAddr>> {
    if value.eq_ignore_ascii_case("off") {
        return Some(None);
    }
    value.parse().ok().map(Some)
}

/// The settings of the local modes (the built-in emulator).
#[derive(Debug, Clone)]
pub struct Local {
    /// `FERRIC_LISTEN`: the RIE invoke endpoint.
    pub listen: SocketAddr,
    /// `FERRIC_HTTP_LISTEN`: the HTTP front door's address in serve mode (None: `off`).
    pub http_listen: Option<SocketAddr>,
    pub http_event: HttpEvent,
    pub function_name: String,
    /// `FERRIC_SNAPSTART`: the built-in emulator simulates a snapshot and its restore.
    pub simulate_snapstart: bool,
    /// `--watch`: replace the worker when the task root changes.
    pub watch: bool,
    /// `--debug`: where the worker's debugger listens (the port `None`: the language's usual).
    pub debug: Option<Debug>,
}

/// `--debug[=HOST:PORT]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Debug {
    pub host: String,
    pub port: Option<u16>,
}

impl Debug {
    /// `""` (the defaults), `PORT`, `HOST:PORT` or `[IPv6]:PORT`.
    pub fn parse(value: &str) -> Option<Debug> {
        let value = value.trim();
        if value.is_empty() {
            return Some(Debug {
                host: "127.0.0.1".into(),
                port: None,
            });
        }
        if let Ok(port) = value.parse::<u16>() {
            return Some(Debug {
                host: "127.0.0.1".into(),
                port: Some(port),
            });
        }
        let (host, port) = value.rsplit_once(':')?;
        let port = port.parse::<u16>().ok()?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        (!host.is_empty() && !host.contains(['/', ' '])).then(|| Debug {
            host: host.to_owned(),
            port: Some(port),
        })
    }

    /// Whether only this machine can reach the debugger.
    pub fn is_loopback(&self) -> bool {
        self.host == "localhost"
            || self
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

impl Local {
    pub(super) fn read(
        s: &Settings,
        (listen, http): (SocketAddr, SocketAddr),
    ) -> Result<Local, ConfigError> {
        Ok(Local {
            listen: s
                .check(env::LISTEN, "an address, e.g. 127.0.0.1:8080", |v| {
                    v.parse().ok()
                })?
                .unwrap_or(listen),
            http_listen: s
                .check(
                    env::HTTP_LISTEN,
                    "an address, e.g. 127.0.0.1:3000, or off",
                    http_listen,
                )?
                .unwrap_or(Some(http)),
            http_event: s
                .check(
                    env::HTTP_EVENT,
                    "v2 (HTTP API payload 2.0) or v1 (REST API payload 1.0)",
                    HttpEvent::parse,
                )?
                .unwrap_or_default(),
            function_name: s
                .raw(env::FUNCTION_NAME)
                .unwrap_or_else(|| "test_function".into()),
            simulate_snapstart: s.switch(env::SNAPSTART, false)?,
            watch: false,
            debug: None,
        })
    }
}
