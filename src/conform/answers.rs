//! The rules about what a handler makes the worker say: error frames, logs that must stay off
//! the frame channel, and streamed answers (with and without an error at the end).

use super::events::{self, ERROR, INFO, JSON, LOG, LOGGED, STREAM_FILL};
use super::kit::{describe, Kit};
use super::report::Verdict;
use super::session::{Session, SessionError};
use crate::worker::{Answer, Piece};

/// Longest `xray_cause` ferric forwards (docs/PROTOCOL.md).
const MAX_XRAY_CAUSE: usize = 64 * 1024;
/// How long the kit waits for the lines a handler logged to come out of the log pipe.
const LOG_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

impl Kit {
    /// The worker still answers an ordinary event (it is in sync after the last rule's).
    async fn still_answers(&mut self, s: &mut Session, after: &str) -> Verdict {
        match self.result(s, JSON, INFO).await {
            Ok(_) => Verdict::pass(),
            Err(reason) => Verdict::Fail(format!("the next invoke after {after}: {reason}")),
        }
    }

    /// error: `{"conform":"error"}` is answered with an error frame whose payload is an error
    /// object, and the worker goes on.
    pub(super) async fn error(&mut self, s: &mut Session) -> Verdict {
        match self.ask(s, JSON, ERROR).await {
            Err(reason) => return Verdict::Fail(reason),
            Ok((
                _,
                Answer::Error {
                    xray_cause, body, ..
                },
            )) => {
                if let Some(problem) = events::error_body_problem(&body) {
                    return Verdict::Fail(problem);
                }
                if xray_cause.is_some_and(|c| c.len() > MAX_XRAY_CAUSE) {
                    return Verdict::Fail("xray_cause is longer than 64 KiB".into());
                }
            }
            Ok((_, other)) => {
                return Verdict::Fail(format!(
                    "answered with {} instead of an error frame",
                    describe(&other)
                ))
            }
        }
        self.still_answers(s, "an error").await
    }

    /// logs: lines a handler writes to stderr (and stdout) that look like frames stay logs.
    pub(super) async fn logs(&mut self, s: &mut Session) -> Verdict {
        let offset = s.logs().total();
        let (id, header) = self.header(JSON, LOG.len());
        let leaked = "a line the handler logged reached the frame channel";
        match s.call(&header, LOG, &id, self.limits.timeout).await {
            Ok(Answer::Result { body, .. }) if events::is_json_string(&body, LOGGED) => {}
            Ok(Answer::Result { body, .. }) if &body[..] == b"FAKE" => {
                return Verdict::Fail(format!("{leaked} (a result frame with the payload FAKE)"))
            }
            Ok(other) => {
                return Verdict::Fail(format!(
                    "answered with {} instead of the result \"logged\"",
                    describe(&other)
                ))
            }
            Err(SessionError::Violation(v)) => return Verdict::Fail(format!("{leaked}: {v}")),
            Err(e) => return Verdict::Fail(e.to_string()),
        }
        let [line, ..] = events::fake_frames(&id);
        if !s.logs().wait_for(line.as_bytes(), offset, LOG_WAIT).await {
            return Verdict::Fail(format!(
                "the worker answered, but its logs do not show the line it was asked to write: {line}"
            ));
        }
        self.still_answers(s, "logging").await
    }

    /// stream and stream-error: the stream event is answered with a stream of exactly the
    /// bytes it asks for, ended by stream_end (or stream_error with an error object).
    pub(super) async fn stream(&mut self, s: &mut Session, error: bool) -> Verdict {
        let fill = if error { 0 } else { STREAM_FILL };
        let (id, answer) = match self.ask(s, JSON, &events::stream_event(fill, error)).await {
            Ok(asked) => asked,
            Err(reason) => return Verdict::Fail(reason),
        };
        match answer {
            Answer::Stream { .. } => {}
            Answer::Result { body, .. } if events::is_nostream(&body) => {
                return if self.claims.streaming {
                    Verdict::Fail(
                        "ready lists the \"streaming\" feature, but the handler answered nostream"
                            .into(),
                    )
                } else {
                    Verdict::Skip("the worker does not stream (it answered nostream; ready lists no \"streaming\" feature)".into())
                };
            }
            other => {
                return Verdict::Fail(format!(
                    "answered with {} instead of a stream (or {{\"conform\":\"nostream\"}})",
                    describe(&other)
                ))
            }
        }
        if let Err(reason) = self.pieces(s, &id, fill, error).await {
            return Verdict::Fail(reason);
        }
        match self.still_answers(s, "a stream").await {
            Verdict::Pass(_) if !self.claims.streaming => Verdict::Pass(Some(
                "the worker streams, but ready lists no \"streaming\" feature".into(),
            )),
            verdict => verdict,
        }
    }

    /// Read a stream to its end and check its bytes and how it ended.
    async fn pieces(
        &mut self,
        s: &mut Session,
        id: &str,
        fill: usize,
        error: bool,
    ) -> Result<(), String> {
        let want = events::stream_bytes(fill);
        let mut got = Vec::new();
        let ended = loop {
            match s.piece(id, self.limits.timeout).await {
                Ok(Piece::Chunk(bytes)) if got.len() + bytes.len() > want.len() => {
                    return Err(format!(
                        "the stream carried more than the {} bytes asked for",
                        want.len()
                    ))
                }
                Ok(Piece::Chunk(bytes)) => got.extend_from_slice(&bytes),
                Ok(Piece::End) => break None,
                Ok(Piece::Error { error_type, body }) => break Some((error_type, body)),
                Err(e) => return Err(format!("after {} streamed bytes: {e}", got.len())),
            }
        };
        if let Some(difference) = events::byte_difference(&want, &got) {
            return Err(format!("the streamed bytes differ: {difference}"));
        }
        match (ended, error) {
            (None, false) => Ok(()),
            (None, true) => Err("the stream ended with stream_end, not stream_error".into()),
            (Some((_, body)), true) => match events::error_body_problem(&body) {
                Some(problem) => Err(format!("stream_error: {problem}")),
                None => Ok(()),
            },
            (Some((error_type, body)), false) => Err(format!(
                "the stream ended with stream_error {error_type}: {}",
                events::preview(&body)
            )),
        }
    }
}
