use super::*;

fn delivery(id: &str) -> Delivery {
    Delivery {
        id: id.into(),
        deadline_ms: 10_000,
        request: InvokeRequest {
            body: Bytes::from_static(b"{}"),
            ..Default::default()
        },
    }
}

fn response<'a>(id: &'a str, body: &'static [u8]) -> Post<'a> {
    Post::Response {
        id,
        content_type: Some("application/json".into()),
        body: Bytes::from_static(body),
    }
}

#[test]
fn invoke_next_post_settles_the_caller() {
    let mut s = State::default();
    assert!(s.next(0).is_none(), "nothing queued: the runtime waits");
    s.invoke(delivery("a"), "reply-a", 0).unwrap();
    assert_eq!(s.next(1).unwrap().id, "a");
    let (verdict, replies) = s.post(response("a", b"1"));
    assert_eq!(verdict, Verdict::Accepted);
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].0, "reply-a");
    assert!(matches!(replies[0].1, InvokeOutcome::Response { .. }));
    assert_eq!(s.remembered(), 0);
}

#[test]
fn posts_for_unknown_or_settled_ids_are_refused() {
    let mut s = State::default();
    s.invoke(delivery("a"), (), 0).unwrap();
    s.next(0);
    assert_eq!(s.post(response("zzz", b"1")).0, Verdict::UnknownId);
    assert_eq!(
        s.post(Post::Error {
            id: "a",
            body: Bytes::new()
        })
        .0,
        Verdict::Accepted
    );
    assert_eq!(
        s.post(response("a", b"2")).0,
        Verdict::UnknownId,
        "second answer"
    );
}

#[test]
fn oversized_responses_get_413_and_the_caller_rapid_s_error() {
    let mut s = State::default();
    s.invoke(delivery("a"), (), 0).unwrap();
    s.next(0);
    let big = Bytes::from(vec![b'x'; MAX_PAYLOAD_BYTES + 1]);
    let (verdict, replies) = s.post(Post::Response {
        id: "a",
        content_type: None,
        body: big,
    });
    assert_eq!(verdict, Verdict::TooLarge);
    match &replies[0].1 {
        InvokeOutcome::ResponseTooLarge { body } => {
            let v: serde_json::Value = serde_json::from_slice(body).unwrap();
            assert_eq!(v["errorType"], "Function.ResponseSizeTooLarge");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn init_error_answers_every_queued_caller_and_later_ones() {
    let mut s = State::default();
    s.invoke(delivery("a"), 1, 0).unwrap();
    s.invoke(delivery("b"), 2, 0).unwrap();
    let (verdict, replies) = s.post(Post::InitError {
        body: Bytes::from_static(b"boom"),
    });
    assert_eq!(verdict, Verdict::Accepted);
    assert_eq!(replies.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2]);
    assert!(matches!(
        s.invoke(delivery("c"), 3, 0),
        Err((3, InvokeOutcome::InitError { .. }))
    ));
    s.reset();
    assert!(
        s.invoke(delivery("d"), 4, 0).is_ok(),
        "a new runtime gets a new chance"
    );
}

#[test]
fn retrying_init_queues_invocations_for_the_next_runtime() {
    let mut s = State::default();
    s.retry_init_on_invoke();
    s.post(Post::InitError {
        body: Bytes::from_static(b"first"),
    });
    s.invoke(delivery("a"), 1, 0).expect("queued, not answered");
    assert!(s.has_queued());
    s.reset();
    // The next runtime fails too: the waiting caller gets the new error.
    let (_, replies) = s.post(Post::InitError {
        body: Bytes::from_static(b"second"),
    });
    assert!(
        matches!(&replies[..], [(1, InvokeOutcome::InitError { body })] if &body[..] == b"second")
    );
    s.invoke(delivery("b"), 2, 0).unwrap();
    s.reset();
    // Or it starts: the caller is served.
    assert_eq!(s.next(0).unwrap().id, "b");
}

#[test]
fn init_error_after_the_first_next_is_too_late() {
    let mut s: State<()> = State::default();
    s.next(0);
    assert_eq!(
        s.post(Post::InitError { body: Bytes::new() }).0,
        Verdict::TooLate
    );
}

#[test]
fn abandoned_invocations_are_dropped_or_finish_unheard() {
    let mut s = State::default();
    s.invoke(delivery("a"), "a", 0).unwrap();
    s.invoke(delivery("b"), "b", 0).unwrap();
    s.next(0);
    assert_eq!(s.abandon("b"), Abandoned::Dropped);
    assert!(s.next(0).is_none(), "b never reaches the runtime");
    assert_eq!(s.abandon("a"), Abandoned::Running);
    let (verdict, replies) = s.post(response("a", b"1"));
    assert_eq!(verdict, Verdict::Accepted, "the runtime is not punished");
    assert!(replies.is_empty(), "nobody to answer");
    assert_eq!(s.abandon("a"), Abandoned::Gone);
    assert_eq!(s.remembered(), 0);
}

#[test]
fn new_invocations_learn_what_they_wait_for() {
    let mut s = State::default();
    s.invoke(delivery("a"), (), 1_000).unwrap();
    s.next(1_000);
    s.invoke(delivery("b"), (), 1_500).unwrap();
    let ahead = s.invoke(delivery("c"), (), 4_000).unwrap();
    assert_eq!(
        ahead,
        Ahead {
            queued: 1,
            in_flight: 1,
            oldest_ms: Some(3_000)
        }
    );
}

#[test]
fn a_streamed_response_settles_the_caller_at_its_start() {
    let mut s = State::default();
    s.invoke(delivery("a"), "a", 0).unwrap();
    s.next(0);
    let (verdict, replies) = s.post(Post::StreamStart {
        id: "a",
        content_type: "text/plain".into(),
    });
    assert_eq!(verdict, Verdict::Accepted);
    assert_eq!(
        replies[0].1,
        InvokeOutcome::Stream {
            content_type: "text/plain".into()
        }
    );
    assert_eq!(s.post(response("a", b"late")).0, Verdict::UnknownId);
}

#[test]
fn expired_invocations_are_forgotten() {
    let mut s = State::default();
    s.invoke(delivery("a"), (), 0).unwrap();
    s.next(0);
    s.expire("a");
    assert_eq!(s.post(response("a", b"late")).0, Verdict::UnknownId);
    assert_eq!(s.remembered(), 0);
}

#[test]
fn extensions_register_once_and_before_init() {
    let mut s: State<()> = State::default();
    assert_eq!(s.register_extension(""), Err(RegisterError::NoName));
    assert_eq!(s.register_extension("x"), Ok(()));
    assert_eq!(s.register_extension("x"), Err(RegisterError::Duplicate));
    s.next(0);
    assert_eq!(s.register_extension("y"), Err(RegisterError::AfterInit));
}

#[test]
fn memory_stays_flat_over_many_invocations() {
    let mut s = State::default();
    for i in 0..10_000 {
        let id = format!("id-{i}");
        s.invoke(delivery(&id), i, 0).unwrap();
        let d = s.next(0).unwrap();
        let big = Bytes::from(vec![b'x'; 1024]);
        let (_, replies) = s.post(Post::Response {
            id: &d.id,
            content_type: None,
            body: big,
        });
        assert_eq!(replies.len(), 1);
    }
    assert_eq!(s.remembered(), 0);
    assert!(s.in_flight.capacity() < 64 && s.queue.capacity() < 64);
}
