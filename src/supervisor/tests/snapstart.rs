//! SnapStart: hooks around the restore, and where their failures are reported.

use super::*;

async fn snap_start(
    failing: Option<crate::worker::protocol::Phase>,
) -> (Result<(), RunError>, Vec<String>) {
    let log = Log::default();
    let platform = FakePlatform::new(&log, vec![Ok(invocation("a"))]);
    let mut workers = FakeWorkers::new(&log, vec![Boot::Ready(vec![])]);
    workers.failing_hooks = failing;
    let lane = Lane::new(
        platform,
        workers,
        Policy {
            snap_start: true,
            ..policy(Recycling::default())
        },
    );
    let result = lane
        .run(async {}, tokio::time::sleep(Duration::from_secs(60)))
        .await;
    (result, events(&log))
}

#[tokio::test(start_paused = true)]
async fn snapstart_runs_hooks_around_the_restore_before_serving() {
    let (result, e) = snap_start(None).await;
    result.unwrap();
    assert_eq!(
        &e[..6],
        [
            "start 1",
            "hooks 1 before_snapshot",
            "restore_next",
            "hooks 1 after_restore",
            "next",
            "call 1 a"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn failed_snapstart_hooks_are_reported_where_the_peers_report_them() {
    use crate::worker::protocol::Phase;
    let (result, e) = snap_start(Some(Phase::BeforeSnapshot)).await;
    assert!(matches!(
        result,
        Err(RunError::Hooks {
            phase: Phase::BeforeSnapshot,
            ..
        })
    ));
    assert!(
        e.contains(&"init_error Runtime.BeforeSnapshotError".to_string()),
        "{e:?}"
    );
    assert!(!e.contains(&"restore_next".to_string()));
    let (result, e) = snap_start(Some(Phase::AfterRestore)).await;
    assert!(matches!(
        result,
        Err(RunError::Hooks {
            phase: Phase::AfterRestore,
            ..
        })
    ));
    assert!(
        e.contains(&"restore_error Runtime.AfterRestoreError".to_string()),
        "{e:?}"
    );
    assert!(!e.contains(&"next".to_string()));
}
