//! Lane policy over a fake platform and fake workers, with paused time: backoff, recycling,
//! shutdown order, refused posts, malformed invocations; streams and SnapStart in their own files.

mod fakes;
mod snapstart;
mod streams;

use std::os::unix::process::ExitStatusExt;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use super::*;
use crate::worker::Piece;
use fakes::*;

fn policy(recycling: Recycling) -> Policy {
    Policy {
        timeout_margin: Duration::from_millis(50),
        kill_grace: Duration::from_millis(300),
        recycling,
        sweep_orphans: false,
        snap_start: false,
        hook_timeout: Duration::from_secs(10),
        debug: false,
    }
}

/// Run a lane to its end; shut it down `after` into the run (long enough for every scripted
/// step: time is paused and advances only when everything waits).
async fn run(
    platform: FakePlatform,
    workers: FakeWorkers,
    recycling: Recycling,
) -> (Result<(), RunError>, Duration) {
    let started = Instant::now();
    let lane = Lane::new(platform, workers, policy(recycling));
    let shutdown = tokio::time::sleep(Duration::from_secs(600));
    let result = lane.run(async {}, shutdown).await;
    (result, started.elapsed())
}

fn events(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

#[tokio::test(start_paused = true)]
async fn answers_then_stops_the_worker_on_shutdown() {
    let log = Log::default();
    let platform = FakePlatform::new(&log, vec![Ok(invocation("a"))]);
    let workers = FakeWorkers::new(&log, vec![Boot::Ready(vec![])]);
    let (result, _) = run(platform, workers, Recycling::default()).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        events(&log),
        [
            "start 1",
            "next",
            "call 1 a",
            "response a {}",
            "next",
            "shutdown 1"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_worker_is_reported_killed_and_replaced_before_the_next_poll() {
    let log = Log::default();
    let platform = FakePlatform::new(&log, vec![Ok(invocation("a")), Ok(invocation("b"))]);
    let crash = WorkerFailure::Exited(std::process::ExitStatus::from_raw(1 << 8));
    let workers = FakeWorkers::new(
        &log,
        vec![Boot::Ready(vec![Call::Fail(crash)]), Boot::Ready(vec![])],
    );
    let (result, _) = run(platform, workers, Recycling::default()).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        events(&log),
        [
            "start 1",
            "next",
            "call 1 a",
            "kill 1",
            "error a Runtime.ExitError",
            "start 2",
            "next",
            "call 2 b",
            "response b {}",
            "next",
            "shutdown 2"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_worker_dumps_its_stacks_before_it_is_killed() {
    let log = Log::default();
    let platform = FakePlatform::new(&log, vec![Ok(invocation("a"))]);
    let hang = WorkerFailure::TimedOut(Duration::ZERO);
    let workers = FakeWorkers::new(
        &log,
        vec![Boot::Ready(vec![Call::Fail(hang)]), Boot::Ready(vec![])],
    );
    run(platform, workers, Recycling::default())
        .await
        .0
        .unwrap();
    let e = events(&log);
    let at = |s: &str| e.iter().position(|x| x == s).unwrap();
    assert!(at("dump 1") < at("kill 1"));
    assert!(at("kill 1") < at("error a Runtime.Timeout"));
}

#[tokio::test(start_paused = true)]
async fn replacements_back_off_and_give_up_after_five_attempts() {
    let log = Log::default();
    let platform = FakePlatform::new(&log, vec![Ok(invocation("a"))]);
    let crash = WorkerFailure::Exited(std::process::ExitStatus::from_raw(9));
    let mut boots = vec![Boot::Ready(vec![Call::Fail(crash)])];
    boots.extend((0..5).map(|_| Boot::Fail));
    let workers = FakeWorkers::new(&log, boots);
    let (result, elapsed) = run(platform, workers, Recycling::default()).await;
    assert!(
        matches!(result, Err(RunError::RespawnFailed { .. })),
        "{result:?}"
    );
    // 100 + 200 + 400 + 800 ms between the five attempts.
    assert_eq!(elapsed, Duration::from_millis(1_500));
    let starts = events(&log)
        .iter()
        .filter(|e| e.starts_with("start"))
        .count();
    assert_eq!(starts, 6);
    assert_eq!(events(&log).iter().filter(|e| *e == "next").count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_worker_is_recycled_after_max_invocations() {
    let log = Log::default();
    let nexts = (0..3).map(|i| Ok(invocation(&format!("i{i}")))).collect();
    let platform = FakePlatform::new(&log, nexts);
    let workers = FakeWorkers::new(&log, vec![Boot::Ready(vec![]), Boot::Ready(vec![])]);
    let recycling = Recycling {
        max_invocations: 2,
        max_rss_mb: 0,
    };
    run(platform, workers, recycling).await.0.unwrap();
    let e = events(&log);
    let at = |s: &str| e.iter().position(|x| x == s).unwrap();
    assert!(at("response i1 {}") < at("shutdown 1"));
    assert!(at("shutdown 1") < at("start 2"));
    assert!(at("start 2") < at("call 2 i2"));
}

#[tokio::test(start_paused = true)]
async fn a_worker_over_its_memory_limit_is_recycled() {
    let log = Log::default();
    let platform = FakePlatform::new(&log, vec![Ok(invocation("a"))]);
    let workers = FakeWorkers::new(&log, vec![Boot::Ready(vec![]), Boot::Ready(vec![])]);
    let recycling = Recycling {
        max_invocations: 0,
        max_rss_mb: 5,
    };
    run(platform, workers, recycling).await.0.unwrap();
    assert!(events(&log).contains(&"start 2".to_string()));
}

#[tokio::test(start_paused = true)]
async fn a_refused_post_is_logged_and_the_loop_goes_on() {
    let log = Log::default();
    let platform = FakePlatform::new(&log, vec![Ok(invocation("a")), Ok(invocation("b"))])
        .answer_with(vec![Ok(PostOutcome::Refused {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            body: String::new(),
        })]);
    let workers = FakeWorkers::new(&log, vec![Boot::Ready(vec![])]);
    run(platform, workers, Recycling::default())
        .await
        .0
        .unwrap();
    assert!(events(&log).contains(&"response b {}".to_string()));
    assert_eq!(
        events(&log)
            .iter()
            .filter(|e| e.starts_with("start"))
            .count(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn a_server_error_on_a_post_stops_the_lane_and_its_worker() {
    let log = Log::default();
    let platform =
        FakePlatform::new(&log, vec![Ok(invocation("a"))]).answer_with(vec![Err(server_error())]);
    let workers = FakeWorkers::new(&log, vec![Boot::Ready(vec![])]);
    let (result, _) = run(platform, workers, Recycling::default()).await;
    assert!(matches!(result, Err(RunError::Api(_))), "{result:?}");
    assert_eq!(
        events(&log),
        ["start 1", "next", "call 1 a", "response a {}", "shutdown 1"]
    );
}

#[tokio::test(start_paused = true)]
async fn next_transport_errors_are_retried_with_backoff_then_fatal() {
    let log = Log::default();
    let mut nexts: Vec<Result<Next, ApiError>> = (0..4).map(|_| Err(transport())).collect();
    nexts.push(Ok(invocation("a")));
    let platform = FakePlatform::new(&log, nexts);
    let workers = FakeWorkers::new(&log, vec![Boot::Ready(vec![])]);
    run(platform, workers, Recycling::default())
        .await
        .0
        .unwrap();
    assert!(events(&log).contains(&"response a {}".to_string()));

    let log = Log::default();
    let platform = FakePlatform::new(&log, (0..5).map(|_| Err(transport())).collect());
    let workers = FakeWorkers::new(&log, vec![Boot::Ready(vec![])]);
    let (result, elapsed) = run(platform, workers, Recycling::default()).await;
    assert!(matches!(result, Err(RunError::Api(_))));
    assert_eq!(elapsed, Duration::from_millis(1_500));
    assert_eq!(events(&log).last().unwrap(), "shutdown 1");
}

#[tokio::test(start_paused = true)]
async fn a_server_error_on_next_is_fatal_at_once() {
    let log = Log::default();
    let platform = FakePlatform::new(&log, vec![Err(server_error())]);
    let workers = FakeWorkers::new(&log, vec![Boot::Ready(vec![])]);
    let (result, elapsed) = run(platform, workers, Recycling::default()).await;
    assert!(matches!(result, Err(RunError::Api(_))));
    assert_eq!(elapsed, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_malformed_invocation_gets_one_error_and_keeps_the_worker() {
    let log = Log::default();
    let malformed = Next::Malformed {
        request_id: "bad".into(),
        invocation_id: None,
        reason: "the body was cut off".into(),
    };
    let platform = FakePlatform::new(&log, vec![Ok(malformed), Ok(invocation("good"))]);
    let workers = FakeWorkers::new(&log, vec![Boot::Ready(vec![])]);
    run(platform, workers, Recycling::default())
        .await
        .0
        .unwrap();
    assert_eq!(
        events(&log),
        [
            "start 1",
            "next",
            "error bad Runtime.InvalidInvocation",
            "next",
            "call 1 good",
            "response good {}",
            "next",
            "shutdown 1"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn headers_too_large_for_the_protocol_are_refused_without_a_worker() {
    let log = Log::default();
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", "big".parse().unwrap());
    headers.insert(
        "lambda-runtime-deadline-ms",
        "99999999999999".parse().unwrap(),
    );
    let huge = "\"".repeat(crate::worker::protocol::MAX_INVOKE_HEADER_BYTES / 2 + 1);
    headers.insert("lambda-runtime-client-context", huge.parse().unwrap());
    let inv = Invocation::from_next(&headers, Bytes::new()).unwrap();
    let platform = FakePlatform::new(&log, vec![Ok(Next::Invocation(inv))]);
    let workers = FakeWorkers::new(&log, vec![Boot::Ready(vec![])]);
    run(platform, workers, Recycling::default())
        .await
        .0
        .unwrap();
    assert!(events(&log).contains(&"error big Runtime.InvalidInvocation".to_string()));
    assert!(!events(&log).iter().any(|e| e.starts_with("call")));
}

#[tokio::test(start_paused = true)]
async fn init_errors_are_reported_once_and_end_the_lane() {
    let log = Log::default();
    let platform = FakePlatform::new(&log, vec![]);
    let workers = FakeWorkers::new(&log, vec![Boot::InitError]);
    let (result, _) = run(platform, workers, Recycling::default()).await;
    match result {
        Err(RunError::InitFailed { error_type }) => {
            assert_eq!(error_type, "Runtime.ImportModuleError")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        events(&log),
        ["start 1", "init_error Runtime.ImportModuleError"]
    );

    let log = Log::default();
    let platform = FakePlatform::new(&log, vec![]);
    let workers = FakeWorkers::new(&log, vec![Boot::Fail]);
    let (result, _) = run(platform, workers, Recycling::default()).await;
    assert!(matches!(result, Err(RunError::InitFailed { .. })));
    assert_eq!(
        events(&log),
        ["start 1", "init_error Runtime.InvalidEntrypoint"]
    );
}

#[tokio::test(start_paused = true)]
async fn no_poll_before_the_platform_is_ready_for_it() {
    let log = Log::default();
    let platform = FakePlatform::new(&log, vec![Ok(invocation("a"))]);
    let workers = FakeWorkers::new(&log, vec![Boot::Ready(vec![])]);
    let lane = Lane::new(platform, workers, policy(Recycling::default()));
    let gate_log = log.clone();
    let ready = async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        push(&gate_log, "registered");
    };
    let shutdown = tokio::time::sleep(Duration::from_secs(10));
    lane.run(ready, shutdown).await.unwrap();
    assert_eq!(&events(&log)[..3], ["start 1", "registered", "next"]);
}

#[tokio::test(start_paused = true)]
async fn escaped_processes_are_swept_when_a_worker_ends_if_the_policy_says_so() {
    let log = Log::default();
    let platform = FakePlatform::new(&log, vec![Ok(invocation("a"))]);
    let crash = WorkerFailure::Exited(std::process::ExitStatus::from_raw(9));
    let workers = FakeWorkers::new(
        &log,
        vec![Boot::Ready(vec![Call::Fail(crash)]), Boot::Ready(vec![])],
    );
    let lane = Lane::new(
        platform,
        workers,
        Policy {
            sweep_orphans: true,
            ..policy(Recycling::default())
        },
    );
    lane.run(async {}, tokio::time::sleep(Duration::from_secs(60)))
        .await
        .unwrap();
    let e = events(&log);
    assert_eq!(&e[3..6], ["kill 1", "sweep", "error a Runtime.ExitError"]);
}

#[tokio::test(start_paused = true)]
async fn a_worker_that_exits_after_answering_is_replaced_before_the_next_invocation() {
    let log = Log::default();
    let platform = FakePlatform::new(&log, vec![Ok(invocation("a")), Ok(invocation("b"))]);
    let mut workers = FakeWorkers::new(&log, vec![Boot::Ready(vec![]), Boot::Ready(vec![])]);
    workers.exit_after = Some(1);
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
    assert!(at("response a {}") < at("kill 1"));
    assert!(at("kill 1") < at("start 2"));
    assert!(
        at("start 2") < at("call 2 b"),
        "b reaches the new worker: {e:?}"
    );
    assert!(
        !e.iter().any(|x| x.starts_with("error")),
        "nobody pays for the exit: {e:?}"
    );
}
