use super::*;
use clap::Parser;
use std::collections::HashMap;
use std::time::Duration;

fn cfg(args: &[&str], vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let cli =
        crate::cli::Cli::try_parse_from(std::iter::once("ferric").chain(args.iter().copied()))
            .unwrap();
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_parts(
        &cli.run_args(),
        true,
        &|k| vars.get(k).cloned(),
        Facts::at("/nonexistent-cwd"),
    )
}

fn bad(args: &[&str], vars: &[(&str, &str)]) -> (&'static str, String) {
    match cfg(args, vars) {
        Err(ConfigError::BadValue { name, .. }) => {
            let message = cfg(args, vars).unwrap_err().to_string();
            (name, message)
        }
        other => panic!("{vars:?}: expected a bad value, got {other:?}"),
    }
}

#[test]
fn handler_from_argument_then_env() {
    assert_eq!(
        cfg(&["a.b"], &[("_HANDLER", "c.d")]).unwrap().handler,
        "a.b"
    );
    assert_eq!(cfg(&[], &[("_HANDLER", "c.d")]).unwrap().handler, "c.d");
    assert_eq!(cfg(&[], &[]).unwrap_err(), ConfigError::NoHandler);
    let none = crate::cli::RunArgs::default();
    let prepare = Config::from_parts(&none, false, &|_| None, Facts::at("/")).unwrap();
    assert_eq!(prepare.handler, "");
}

#[test]
fn defaults() {
    let c = cfg(&["app.handler"], &[]).unwrap();
    assert_eq!(c.task_root, PathBuf::from("/nonexistent-cwd"));
    assert_eq!(c.local.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.local.http_listen, Some(DEFAULT_HTTP_LISTEN));
    assert_eq!(c.local.http_event, HttpEvent::V2);
    assert_eq!(c.limits.init_timeout, DEFAULT_INIT_TIMEOUT);
    assert_eq!(c.limits.function_timeout, DEFAULT_FUNCTION_TIMEOUT);
    assert_eq!(c.limits.concurrency, 1);
    assert_eq!(c.platform.runtime_api, None);
    assert!(c.limits.register_extension);
    assert_eq!((c.limits.max_invocations, c.limits.max_rss_mb), (0, 0));
    assert_eq!(c.worker, WorkerChoice::Shim { forced: None });
    assert_eq!(c.python, PathBuf::from("python3"));
    assert_eq!(c.log_level, tracing::Level::INFO);
    let versioned = concat!("ferric-", env!("CARGO_PKG_VERSION"));
    assert_eq!(c.cache_dir, PathBuf::from("/tmp").join(versioned));
}

#[test]
fn overrides_and_raw_mode() {
    let c = cfg(
        &["--runtime", "node", "x.y"],
        &[
            ("LAMBDA_TASK_ROOT", "/var/task"),
            ("FERRIC_NODE", "/opt/node"),
            ("FERRIC_LISTEN", "0.0.0.0:9000"),
            ("AWS_LAMBDA_FUNCTION_TIMEOUT", "3"),
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
            ("TMPDIR", "/scratch"),
            ("FERRIC_LOG", "debug"),
        ],
    )
    .unwrap();
    assert_eq!(
        c.worker,
        WorkerChoice::Shim {
            forced: Some(Language::Node)
        }
    );
    assert_eq!(c.node, PathBuf::from("/opt/node"));
    assert_eq!(c.task_root, PathBuf::from("/var/task"));
    assert_eq!(c.local.listen.port(), 9000);
    assert_eq!(c.limits.function_timeout, Duration::from_secs(3));
    assert_eq!(c.platform.runtime_api.unwrap().as_str(), "127.0.0.1:9001");
    assert!(c.cache_dir.starts_with("/scratch"));
    assert_eq!(c.log_level, tracing::Level::DEBUG);
    let c = cfg(
        &["a.b"],
        &[
            ("FERRIC_REGISTER_EXTENSION", "off"),
            ("FERRIC_MAX_INVOCATIONS", "100"),
            ("FERRIC_CACHE_DIR", "/opt/c"),
            ("AWS_LAMBDA_MAX_CONCURRENCY", "4"),
        ],
    )
    .unwrap();
    assert!(!c.limits.register_extension);
    assert_eq!(c.limits.max_invocations, 100);
    assert_eq!(c.cache_dir, PathBuf::from("/opt/c"));
    assert_eq!(c.limits.concurrency, 4);
    let raw = cfg(&["--", "./worker", "--flag"], &[]).unwrap();
    assert_eq!(
        raw.worker,
        WorkerChoice::Raw {
            argv: vec!["./worker".into(), "--flag".into()]
        }
    );
}

#[test]
fn bad_values_name_the_variable_once_with_an_example() {
    for (k, v) in [
        ("FERRIC_LISTEN", "localhost"),
        ("FERRIC_INIT_TIMEOUT", "soon"),
        ("FERRIC_INIT_TIMEOUT", "1e300"),
        ("FERRIC_INIT_TIMEOUT", "0"),
        ("FERRIC_INIT_TIMEOUT", "-1"),
        ("FERRIC_INIT_TIMEOUT", "NaN"),
        ("AWS_LAMBDA_FUNCTION_TIMEOUT", "1e300"),
        ("AWS_LAMBDA_FUNCTION_TIMEOUT", "inf"),
        ("FERRIC_MAX_FRAME_BYTES", "-1"),
        ("FERRIC_MAX_FRAME_BYTES", "10"),
        ("AWS_LAMBDA_MAX_CONCURRENCY", "many"),
        ("AWS_LAMBDA_MAX_CONCURRENCY", "0"),
        ("AWS_LAMBDA_MAX_CONCURRENCY", "65"),
        ("FERRIC_REGISTER_EXTENSION", "maybe"),
        ("FERRIC_MAX_RSS_MB", "lots"),
        ("FERRIC_KILL_GRACE_MS", "99999999999"),
        ("FERRIC_TIMEOUT_MARGIN_MS", "1.5"),
        ("FERRIC_LOG", "loud"),
        ("FERRIC_NODE_COMPAT", "v5"),
        ("FERRIC_HTTP_LISTEN", "3000"),
        ("FERRIC_HTTP_LISTEN", "no"),
        ("FERRIC_HTTP_EVENT", "v3"),
        ("FERRIC_HTTP_EVENT", "rest"),
        ("AWS_LAMBDA_RUNTIME_API", "not-an-address"),
        ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1"),
        ("AWS_LAMBDA_RUNTIME_API", "http://127.0.0.1:9001"),
        ("AWS_LAMBDA_RUNTIME_API", ":9001"),
        ("AWS_LAMBDA_RUNTIME_API", "h:port"),
        ("AWS_LAMBDA_RUNTIME_API", "h:99999"),
        ("AWS_LAMBDA_RUNTIME_API", "h:0"),
    ] {
        let (name, message) = bad(&["a.b"], &[(k, v)]);
        assert_eq!(name, k);
        assert_eq!(message.matches(k).count(), 1, "{message}");
        assert!(
            message.contains("e.g.") || message.contains(" or "),
            "{message}"
        );
    }
}

#[test]
fn the_front_door_can_move_be_turned_off_and_send_v1_events() {
    let moved = cfg(
        &["a.b"],
        &[
            ("FERRIC_HTTP_LISTEN", "0.0.0.0:3001"),
            ("FERRIC_HTTP_EVENT", "v1"),
        ],
    )
    .unwrap();
    assert_eq!(moved.local.http_listen.unwrap().to_string(), "0.0.0.0:3001");
    assert_eq!(moved.local.http_event, HttpEvent::V1);
    for off in ["off", "OFF", " off "] {
        let c = cfg(&["a.b"], &[("FERRIC_HTTP_LISTEN", off)]).unwrap();
        assert_eq!(c.local.http_listen, None, "{off:?}");
    }
    for (v, want) in [
        ("2.0", HttpEvent::V2),
        ("V2", HttpEvent::V2),
        ("1.0", HttpEvent::V1),
    ] {
        assert_eq!(
            cfg(&["a.b"], &[("FERRIC_HTTP_EVENT", v)])
                .unwrap()
                .local
                .http_event,
            want
        );
    }
}

#[test]
fn debug_addresses() {
    let d = |v: &str| Debug::parse(v);
    assert_eq!(
        d(""),
        Some(Debug {
            host: "127.0.0.1".into(),
            port: None
        })
    );
    assert_eq!(d("5679").unwrap().port, Some(5679));
    assert_eq!(d("0.0.0.0:9230").unwrap().host, "0.0.0.0");
    assert_eq!(d("[::1]:9229").unwrap().host, "::1");
    assert!(d("[::1]:9229").unwrap().is_loopback());
    assert!(!d("0.0.0.0:1").unwrap().is_loopback());
    assert_eq!(d("host:port"), None);
    let c = cfg(&["--debug", "--", "./w"], &[]).unwrap();
    assert_eq!(c.local.debug.unwrap().port, None);
    let c = cfg(&["--debug=9230", "a.b"], &[]).unwrap();
    assert_eq!(c.local.debug.unwrap().port, Some(9230));
    assert_eq!(
        cfg(&["--debug", "a.b"], &[("AWS_LAMBDA_RUNTIME_API", "h:1")]).unwrap_err(),
        ConfigError::LocalOnly("--debug")
    );
}

#[test]
fn inside_a_container_the_local_endpoints_listen_on_all_interfaces() {
    let args = crate::cli::RunArgs {
        handler: Some("a.b".into()),
        ..Default::default()
    };
    let facts = Facts {
        cwd: "/var/task".into(),
        in_container: true,
    };
    let c = Config::from_parts(&args, true, &|_| None, facts.clone()).unwrap();
    assert_eq!(c.local.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(c.local.http_listen.unwrap().to_string(), "0.0.0.0:3000");
    let set = |k: &str| (k == "FERRIC_LISTEN").then(|| "127.0.0.1:9000".to_owned());
    let c = Config::from_parts(&args, true, &set, facts).unwrap();
    assert_eq!(
        c.local.listen.to_string(),
        "127.0.0.1:9000",
        "a setting wins"
    );
}

#[test]
fn watch_is_for_local_mode() {
    assert!(cfg(&["--watch", "a.b"], &[]).unwrap().local.watch);
    assert_eq!(
        cfg(
            &["--watch", "a.b"],
            &[("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")]
        )
        .unwrap_err(),
        ConfigError::LocalOnly("--watch")
    );
}

#[test]
fn good_addresses_and_blank_values() {
    for ok in [
        "127.0.0.1:9001",
        "localhost:1",
        "[::1]:9001",
        "sandbox.local:65535",
    ] {
        assert!(ApiAddress::parse(ok).is_some(), "{ok}");
    }
    // Blank means unset, as on Lambda where empty variables are common.
    let c = cfg(
        &["a.b"],
        &[("AWS_LAMBDA_RUNTIME_API", " "), ("FERRIC_LOG", "")],
    )
    .unwrap();
    assert_eq!(c.platform.runtime_api, None);
}
