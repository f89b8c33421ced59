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
//! Runtime API (or the built-in emulator) <-HTTP-> supervisor <-frames on pipes-> worker -> handler
//! ```
//!
//! # Module map
//!
//! | module | role |
//! |---|---|
//! | [`config`] | command line + environment → [`config::Config`] (pure) |
//! | [`app`] | the three modes: production loop, local emulator server, one-shot invoke |
//! | [`runtime_api`] | Runtime API client, one method per endpoint |
//! | [`http_client`] | minimal kept-alive HTTP/1.1 client under it (hyper) |
//! | [`invocation`] | an [`invocation::Invocation`] parsed from `/next` headers (pure) |
//! | [`protocol`] | worker frame types and encoding (pure) |
//! | [`frames`] | bounded frame reader |
//! | [`worker`] | one worker process: spawn, handshake, call under a deadline, terminate |
//! | [`logs`] | forwards a worker's log pipe and keeps its tail for error reports |
//! | [`supervisor`] | init, the invoke loop, failure handling and respawn |
//! | [`emulator`] | built-in Runtime API + RIE invoke endpoint; also the tests' fake |
//! | [`shims`] | the embedded Python and Node shims and their command lines |
//! | [`handler`] | handler strings: language detection and "did you mean" hints |
//! | [`errors`] | error bodies ferric writes itself, in the user's runtime's flavour |

pub mod app;
pub mod config;
pub mod emulator;
pub mod errors;
pub mod frames;
pub mod handler;
pub mod http_client;
pub mod invocation;
pub mod logs;
pub mod protocol;
pub mod runtime_api;
pub mod shims;
pub mod supervisor;
pub mod worker;
