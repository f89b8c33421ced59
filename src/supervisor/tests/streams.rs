//! Streamed responses: pieces forwarded in order, errors and failures mid-stream as trailers.

use super::*;

fn chunk(text: &'static str) -> Result<Piece, WorkerFailure> {
    Ok(Piece::Chunk(Bytes::from_static(text.as_bytes())))
}

#[tokio::test(start_paused = true)]
async fn a_stream_is_forwarded_piece_by_piece_and_ended() {
    let log = Log::default();
    let platform = FakePlatform::new(&log, vec![Ok(invocation("s"))]);
    let pieces = vec![chunk("one"), chunk("two"), Ok(Piece::End)];
    let workers = FakeWorkers::new(&log, vec![Boot::Ready(vec![Call::Stream(pieces)])]);
    run(platform, workers, Recycling::default())
        .await
        .0
        .unwrap();
    let e = events(&log);
    assert_eq!(
        &e[3..7],
        [
            "stream s text/plain",
            "chunk s one",
            "chunk s two",
            "stream end s"
        ]
    );
    assert!(!e
        .iter()
        .any(|x| x.starts_with("trailers") || x.starts_with("kill")));
}

#[tokio::test(start_paused = true)]
async fn a_handler_error_mid_stream_becomes_trailers_and_the_worker_stays() {
    let log = Log::default();
    let platform = FakePlatform::new(&log, vec![Ok(invocation("s")), Ok(invocation("t"))]);
    let failed = Ok(Piece::Error {
        error_type: "Error".into(),
        body: Bytes::from_static(b"{}"),
    });
    let workers = FakeWorkers::new(
        &log,
        vec![Boot::Ready(vec![Call::Stream(vec![chunk("x"), failed])])],
    );
    run(platform, workers, Recycling::default())
        .await
        .0
        .unwrap();
    let e = events(&log);
    assert!(e.contains(&"trailers s Error".to_string()), "{e:?}");
    assert!(
        e.contains(&"response t {}".to_string()),
        "same worker serves the next"
    );
    assert_eq!(e.iter().filter(|x| x.starts_with("start")).count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_worker_that_dies_or_hangs_mid_stream_still_ends_it_with_trailers() {
    for (failure, kind) in [
        (
            WorkerFailure::Exited(std::process::ExitStatus::from_raw(1 << 8)),
            "Runtime.ExitError",
        ),
        (WorkerFailure::TimedOut(Duration::ZERO), "Runtime.Timeout"),
    ] {
        let log = Log::default();
        let platform = FakePlatform::new(&log, vec![Ok(invocation("s"))]);
        let workers = FakeWorkers::new(
            &log,
            vec![
                Boot::Ready(vec![Call::Stream(vec![chunk("x"), Err(failure)])]),
                Boot::Ready(vec![]),
            ],
        );
        run(platform, workers, Recycling::default())
            .await
            .0
            .unwrap();
        let e = events(&log);
        let at = |s: &str| {
            e.iter()
                .position(|x| x == s)
                .unwrap_or_else(|| panic!("{s} in {e:?}"))
        };
        assert!(at("chunk s x") < at(&format!("trailers s {kind}")));
        assert!(at("kill 1") < at(&format!("trailers s {kind}")));
        assert!(at(&format!("trailers s {kind}")) < at("stream end s"));
        assert!(e.contains(&"start 2".to_string()));
    }
}
