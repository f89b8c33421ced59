//! ferric: an AWS Lambda runtime interface client for container images that runs handlers
//! written in any language.
//!
//! # Theory of operation
//!
//! ferric owns the Lambda Runtime API loop in Rust and keeps a long-lived child process (a
//! *worker*) running the user's handler through a small language shim embedded in the binary.
//! The two talk over newline-delimited JSON frames with length-prefixed raw payloads
//! (`docs/PROTOCOL.md`). Because the supervisor outlives its workers, a crash, a hang or garbage
//! output costs at most the invocation in flight: ferric answers it and starts a new worker.
//!
//! ```text
//!  Runtime API (or the      lambda/            supervisor/          shims/ + worker/
//!  built-in emulator/)  <-HTTP-> RuntimeApi <- Lane: next -> call -> post -> Worker <-frames-> shim -> handler
//! ```
//!
//! # Module map
//!
//! Nothing imports upward: `main → app → supervisor → shims → worker`,
//! `app → conform → shims → worker`, and `emulator → lambda → config/handler`.
//!
//! | module | role |
//! |---|---|
//! | [`cli`] | the command line (clap) |
//! | [`config`] | command line + environment → [`config::Config`]; every setting validated (pure) |
//! | [`handler`] | handler strings: language detection from the task root, "did you mean" hints |
//! | [`app`] | the modes: production, serve (emulator), invoke, prepare, conform |
//! | [`conform`] | `ferric conform`: the worker conformance kit, one file per group of rules, with the conformance handlers for the shims |
//! | [`lambda`] | the Runtime API: client ([`lambda::RuntimeApi`]), request builders, invocation parsing, HTTP connections, every platform string ([`lambda::wording`]) |
//! | [`worker`] | one worker: the frame exchange [`worker::Channel`] (`channel.rs`), the codec ([`worker::protocol`]), the process and all unsafe OS code ([`worker::process`]), the log pumps ([`worker::logs`]), the telemetry descriptor ([`worker::telemetry`]) |
//! | [`supervisor`] | a lane's loop over a worker slot (policy tested on paused time against fakes), reloads, streams, SnapStart, failure reports, lanes and the extension ([`supervisor::lanes`]) |
//! | [`shims`] | the embedded Python, Node and Ruby shims (boot programs and bundles), worker command lines (exec wrapper, debugger, telemetry fd) |
//! | [`watch`] | `--watch`: task-root events, debounced into reload requests |
//! | [`emulator`] | the built-in Runtime API + RIE invoke endpoint + HTTP front door (plain HTTP as API Gateway events, [`emulator::front_door`]), around a pure state machine |

pub mod app;
pub mod cli;
pub mod config;
pub mod conform;
pub mod emulator;
pub mod handler;
pub mod lambda;
pub mod shims;
pub mod supervisor;
pub mod watch;
pub mod worker;
