//! `GET /runtime/invocation/next`: a runtime parked until an invocation is queued (or a fault
//! decides otherwise), then the invocation's headers and body as RAPID sends them.

use super::*;

/// Undoes a `/next`'s parked count if it goes away while parked.
struct Parked<'a> {
    shared: &'a Shared,
    on: bool,
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        if self.on {
            self.shared.lock().parked -= 1;
        }
    }
}

pub(super) async fn next(ctx: &ConnCtx, req: Request<Incoming>) -> Result<Response<Body>, Closed> {
    let shared = &*ctx.shared;
    let record = shared.options.record;
    let (nth, index) = {
        let mut s = shared.lock();
        s.next_calls += 1;
        s.first_next.get_or_insert_with(Instant::now);
        let nth = s.next_calls;
        let index = record.then(|| {
            let at = shared.elapsed();
            s.record(Recorded {
                method: Method::GET,
                path: path_of(req.uri()),
                kind: Kind::Next,
                headers: req.headers().clone(),
                body: Bytes::new(),
                trailers: None,
                frames: Vec::new(),
                status: None,
                fault: None,
                request_id: None,
                at,
            })
        });
        (nth, index)
    };
    let fault = shared.decide(&Seen {
        method: req.method(),
        path: req.uri().path(),
        kind: Kind::Next,
        nth,
    });
    let finish = |status: Option<u16>, id: Option<&str>| {
        if let Some(i) = index {
            let mut s = shared.lock();
            if let Some(r) = s.record_mut(i) {
                r.status = status;
                r.fault.clone_from(&fault);
                r.request_id = id.map(str::to_owned);
            }
        }
    };
    match &fault {
        Some(Fault::Status { status, body }) => {
            finish(Some(*status), None);
            return Ok(status_reply(*status, body));
        }
        Some(Fault::Close) => {
            finish(None, None);
            return Err(Closed);
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(*d).await,
        _ => {}
    }
    let mut parked = Parked { shared, on: false };
    let (id, head, body) = loop {
        let mut notified = pin!(shared.changed.notified());
        notified.as_mut().enable();
        {
            let mut s = shared.lock();
            if s.init_error.is_some() {
                drop(s);
                finish(Some(403), None);
                return Ok(api_error(
                    StatusCode::FORBIDDEN,
                    "InvalidStateTransition",
                    "State transition from InitError to Ready failed for runtime. Error: the runtime posted an init error",
                ));
            }
            if let Some(taken) = take(shared, &mut s) {
                if parked.on {
                    parked.on = false;
                    s.parked -= 1;
                }
                break taken;
            }
            if !parked.on {
                parked.on = true;
                s.parked += 1;
                drop(s);
                shared.changed.notify_waiters();
            }
        }
        notified.await;
    };
    let plan = match &fault {
        Some(Fault::TakeAndClose) => {
            finish(None, Some(&id));
            return Err(Closed);
        }
        Some(Fault::CutBody { sent }) => Some(CutPlan {
            chunked: false,
            body_bytes: *sent,
        }),
        Some(Fault::CutChunk { sent }) => Some(CutPlan {
            chunked: true,
            body_bytes: *sent,
        }),
        _ => None,
    };
    let mut r = match plan {
        Some(plan) => {
            ctx.cut.arm(plan);
            Response::new(if plan.chunked {
                Body::Chunked(Some(body))
            } else {
                Body::Full(Some(body))
            })
        }
        None => Response::new(Body::full(body)),
    };
    *r.headers_mut() = head;
    if index.is_some() {
        finish(Some(200), Some(&id));
    }
    Ok(r)
}

/// Hand out the next invocation, or the one in flight again (classic, one slot).
fn take(shared: &Shared, s: &mut State) -> Option<(String, HeaderMap, Bytes)> {
    let limit = shared.options.max_in_flight.max(1);
    if s.in_flight.len() >= limit {
        if limit > 1 {
            return None;
        }
        let (id, f) = s.in_flight.iter().next()?;
        let head = shared.render_head(id, &f.job.invoke, f.job.deadline_ms);
        return Some((id.clone(), head, f.job.invoke.body.clone()));
    }
    let (id, mut job) = s.queue.pop_front()?;
    let head = job
        .head
        .take()
        .unwrap_or_else(|| shared.render_head(&id, &job.invoke, job.deadline_ms));
    let body = job.invoke.body.clone();
    let key = if shared.options.record {
        Some(id.clone())
    } else {
        None
    };
    s.in_flight.insert(
        id,
        InFlight {
            job,
            served: Instant::now(),
        },
    );
    s.max_in_flight_seen = s.max_in_flight_seen.max(s.in_flight.len());
    // The id is only needed again for the record; without one, an empty string costs nothing.
    Some((key.unwrap_or_default(), head, body))
}
