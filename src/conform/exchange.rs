//! The rules about one invocation's frames: invoke and answer, ids echoed, payloads that
//! survive exactly (newlines, every byte value, the size limit), header fields and header
//! sizes a worker must accept, and frame types it must ignore.

use super::events::{self, Events, INFO, JSON, OCTETS};
use super::kit::{describe, Kit};
use super::report::Verdict;
use super::session::{Session, SessionError};
use crate::worker::{Answer, Violation};

/// A payload rule's sample, in the form the worker's handlers take.
enum Sample {
    Bytes(Vec<u8>),
    /// Text, sent pretty-printed (newlines between the JSON tokens) when the flag is set.
    Text(String, bool),
}

/// The payload rules.
#[derive(Clone, Copy)]
enum Payload {
    Newlines,
    EveryByte,
    Large,
}

/// Bytes an echo event adds around its text, with room to spare.
const ECHO_OVERHEAD: usize = 64;

const JSON_ONLY: &str = "checked as JSON text (the handler takes JSON events only)";

impl Kit {
    /// invoke: the info event is answered with a result for its id.
    pub(super) async fn invoke(&mut self, s: &mut Session) -> Verdict {
        match self.result(s, JSON, INFO).await {
            Ok(body) => {
                self.claims.events = events::events_mode(&body);
                match self.claims.events {
                    Events::Bytes => Verdict::pass(),
                    Events::Json => Verdict::Pass(Some(
                        "the handler takes JSON events only; payload rules use JSON text".into(),
                    )),
                }
            }
            Err(reason) => Verdict::Fail(reason),
        }
    }

    /// ids: answers echo request ids of every shape exactly.
    pub(super) async fn ids(&mut self, s: &mut Session) -> Verdict {
        for id in self.ids.shapes() {
            let header = events::invoke_header(&id, JSON, INFO.len(), self.deadline_ms());
            match s.call(&header, INFO, &id, self.limits.timeout).await {
                Ok(Answer::Result { .. }) => {}
                Ok(other) => {
                    return Verdict::Fail(format!(
                        "request {id}: answered with {}",
                        describe(&other)
                    ))
                }
                Err(SessionError::Violation(Violation::WrongId { got, .. })) => {
                    return Verdict::Fail(format!(
                        "sent request id {id:?}, the answer named {got:?}"
                    ))
                }
                Err(e) => return Verdict::Fail(format!("request {id}: {e}")),
            }
        }
        Verdict::pass()
    }

    fn sample(&self, payload: Payload) -> Sample {
        let max = self.limits.max_payload;
        match (payload, self.claims.events) {
            (Payload::Newlines, Events::Bytes) => Sample::Bytes(events::newline_bytes()),
            (Payload::Newlines, Events::Json) => Sample::Text(events::newline_text(), true),
            (Payload::EveryByte, Events::Bytes) => Sample::Bytes(events::every_byte()),
            (Payload::EveryByte, Events::Json) => Sample::Text(events::every_char(), false),
            (Payload::Large, Events::Bytes) => Sample::Bytes(events::large_bytes(max)),
            (Payload::Large, Events::Json) => {
                Sample::Text(events::large_text(max.saturating_sub(ECHO_OVERHEAD)), false)
            }
        }
    }

    /// Send the sample and check that it comes back exactly.
    async fn echo(&mut self, s: &mut Session, payload: Payload) -> Verdict {
        let checked = match self.sample(payload) {
            Sample::Bytes(bytes) => match self.result(s, OCTETS, &bytes).await {
                Ok(got) => events::byte_difference(&bytes, &got).map_or(Ok(()), Err),
                Err(reason) => Err(reason),
            },
            Sample::Text(text, pretty) => {
                let event = events::echo_event(&text, pretty);
                match self.result(s, JSON, &event).await {
                    Ok(got) => events::text_difference(&text, &got).map_or(Ok(()), Err),
                    Err(reason) => Err(reason),
                }
            }
        };
        match (checked, self.claims.events) {
            (Err(reason), _) => Verdict::Fail(reason),
            (Ok(()), Events::Json) => Verdict::Pass(Some(JSON_ONLY.into())),
            (Ok(()), Events::Bytes) => Verdict::pass(),
        }
    }

    /// payload-newlines: a payload full of newlines (one line of it a frame) comes back intact.
    pub(super) async fn newlines(&mut self, s: &mut Session) -> Verdict {
        self.echo(s, Payload::Newlines).await
    }

    /// payload-bytes: every byte value comes back intact.
    pub(super) async fn bytes(&mut self, s: &mut Session) -> Verdict {
        self.echo(s, Payload::EveryByte).await
    }

    /// payload-large: a payload of `FERRIC_MAX_FRAME_BYTES` comes back intact.
    pub(super) async fn large(&mut self, s: &mut Session) -> Verdict {
        match self.echo(s, Payload::Large).await {
            Verdict::Pass(None) => {
                Verdict::Pass(Some(format!("{} bytes", self.limits.max_payload)))
            }
            other => other,
        }
    }

    /// unknown-fields: an invoke header with fields this version does not define is answered.
    pub(super) async fn unknown_fields(&mut self, s: &mut Session) -> Verdict {
        let (id, header) = self.header(JSON, INFO.len());
        let header = events::with_unknown_fields(&header);
        self.answered(s, &header, &id).await
    }

    /// largest-header: an invoke header of exactly 1 MiB is answered.
    pub(super) async fn largest_header(&mut self, s: &mut Session) -> Verdict {
        let id = self.ids.fresh();
        let header = events::largest_header(&id, JSON, INFO.len(), self.deadline_ms());
        self.answered(s, &header, &id).await
    }

    /// The info event with `header` is answered with a result.
    async fn answered(&mut self, s: &mut Session, header: &[u8], id: &str) -> Verdict {
        match s.call(header, INFO, id, self.limits.timeout).await {
            Ok(Answer::Result { .. }) => Verdict::pass(),
            Ok(other) => Verdict::Fail(format!("answered with {}", describe(&other))),
            Err(e) => Verdict::Fail(e.to_string()),
        }
    }

    /// unknown-frames: frames of unknown types (one with a payload of frame-like lines) are
    /// ignored; the next invoke is the one answered.
    pub(super) async fn unknown_frames(&mut self, s: &mut Session) -> Verdict {
        if let Err(e) = s.send(&events::unknown_frames()).await {
            return Verdict::Fail(e.to_string());
        }
        match self.result(s, JSON, INFO).await {
            Ok(_) => Verdict::pass(),
            Err(reason) => Verdict::Fail(format!("after unknown frames: {reason}")),
        }
    }
}
