//! A streamed response: the worker's pieces forwarded to the platform as they come, one at a
//! time (the worker is read only when the platform has taken the previous piece, so the
//! worker is slowed to the platform's pace and ferric never reads ahead). Whatever ends the
//! stream early (the handler's error, a crash, a timeout, a broken protocol) ends the request
//! with error trailers.

use std::time::Duration;

use tokio::time::Instant;
use tracing::debug;

use super::slot::{Slot, Vacancy};
use super::{target, Handle, Lane, Platform, RunError, Workers};
use crate::lambda::invocation::Invocation;
use crate::lambda::{ApiError, PostOutcome, Posted, ResponseStream};
use crate::worker::Piece;

/// How the forwarding loop ended.
enum Ended<W> {
    /// The worker ended its stream (normally or with an error it reported).
    Done(W),
    /// The platform answered (or stopped reading) before the worker's stream ended.
    Early(W),
    /// The worker failed and was killed; the trailers said so.
    Failed,
}

impl<P: Platform, L: Workers> Lane<P, L> {
    pub(super) async fn stream(
        &mut self,
        worker: L::Worker,
        inv: &Invocation,
        content_type: &str,
        deadline: Instant,
        budget: Duration,
    ) -> Result<Slot<L::Worker>, RunError> {
        let target = target(inv);
        debug!(request_id = %inv.request_id, content_type, "streamed response");
        let (stream, mut posted) = self.platform.post_stream(target, content_type);
        let mut answer: Option<Result<PostOutcome, ApiError>> = None;
        let ended = self
            .forward(
                worker,
                inv,
                stream,
                &mut posted,
                &mut answer,
                deadline,
                budget,
            )
            .await;
        let posted = match answer {
            Some(answer) => answer,
            None => posted.await,
        };
        let slot = match ended {
            Ended::Done(worker) => {
                worker.drain_logs().await;
                Slot::Ready(worker)
            }
            Ended::Early(worker) => self.discard_rest(worker, inv, deadline).await,
            Ended::Failed => Slot::Vacant(Vacancy::Failed),
        };
        self.conclude(target, posted, slot).await
    }

    /// Forward pieces until the stream ends (or the platform answers first, into `answer`).
    #[allow(clippy::too_many_arguments)]
    async fn forward(
        &mut self,
        mut worker: L::Worker,
        inv: &Invocation,
        stream: ResponseStream,
        posted: &mut Posted,
        answer: &mut Option<Result<PostOutcome, ApiError>>,
        deadline: Instant,
        budget: Duration,
    ) -> Ended<L::Worker> {
        loop {
            let piece = tokio::select! {
                result = &mut *posted, if answer.is_none() => {
                    *answer = Some(result);
                    return Ended::Early(worker);
                }
                piece = worker.next_piece(&inv.request_id, deadline) => piece,
            };
            match piece {
                Ok(Piece::Chunk(bytes)) => {
                    let sent = tokio::select! {
                        sent = stream.send(bytes) => sent.is_ok(),
                        result = &mut *posted, if answer.is_none() => {
                            *answer = Some(result);
                            false
                        }
                    };
                    if !sent {
                        return Ended::Early(worker);
                    }
                }
                Ok(Piece::End) => {
                    stream.finish();
                    return Ended::Done(worker);
                }
                Ok(Piece::Error { error_type, body }) => {
                    stream.fail(&error_type, &body).await;
                    return Ended::Done(worker);
                }
                Err(failure) => {
                    let post = self.fail(worker, inv, &failure, budget).await;
                    let kind = post.error_type.as_deref().unwrap_or(failure.error_type());
                    stream.fail(kind, &post.body).await;
                    return Ended::Failed;
                }
            }
        }
    }

    /// The platform no longer takes this stream: read the worker's remaining pieces (until its
    /// end or the deadline) so the next invocation starts in sync, or replace the worker.
    async fn discard_rest(
        &self,
        mut worker: L::Worker,
        inv: &Invocation,
        deadline: Instant,
    ) -> Slot<L::Worker> {
        loop {
            match worker.next_piece(&inv.request_id, deadline).await {
                Ok(Piece::Chunk(_)) => {}
                Ok(Piece::End | Piece::Error { .. }) => return Slot::Ready(worker),
                Err(failure) => {
                    tracing::warn!(request_id = %inv.request_id, "{failure} after the platform ended the stream");
                    worker.kill(self.policy.kill_grace).await;
                    return Slot::Vacant(Vacancy::Failed);
                }
            }
        }
    }
}
