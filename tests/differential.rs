//! Differential test: the same handlers and events under awslambdaric (from PyPI, in
//! `.cache/py-venv`, installed by `scripts/setup-peers.sh`) and under ferric, each against its
//! own fake Runtime API. Response and error bodies, content types, the init-error header and the
//! X-Ray cause must be byte-identical once request ids are normalised.

mod support;

use std::path::Path;
use std::time::Duration;

use support::*;
use tokio::process::Command;

const CASES: &str = r#"
import collections, decimal, os

Point = collections.namedtuple("Point", "x y")

class CustomError(Exception):
    pass

def echo(event, context):
    return event

def returns_str(event, context):
    return 'h\u00e9llo "quoted" \\ back\nslash'

def returns_bytes(event, context):
    return b"\x00\x01raw \xff bytes"

def returns_none(event, context):
    return None

def returns_decimal(event, context):
    return {"d": decimal.Decimal("1.10"), "big": decimal.Decimal("12345678901234567890.123"), "nan": decimal.Decimal("NaN"), "neg": decimal.Decimal("-0.0")}

def returns_floats(event, context):
    return [float("nan"), float("inf"), -float("inf"), 0.1, 1e100, -0.0, 2**70]

def returns_unicode(event, context):
    return {"emoji": "\U0001F600", "accent": "\u00e9", "cjk": "\u6f22\u5b57", "ctrl": "\x00\x1f\x7f"}

def returns_containers(event, context):
    return {"tuple": (1, 2), "nested": [[], {}], "keys": {1: "int", 2.5: "float", True: "bool", None: "none"}, "point": Point(1, 2)}

def not_serializable(event, context):
    return {"s": {1, 2}}

def not_serializable_object(event, context):
    return object()

def raises_value_error(event, context):
    raise ValueError("boom")

def raises_custom(event, context):
    raise CustomError("custom message")

def raises_empty(event, context):
    raise Exception()

def raises_unicode(event, context):
    raise RuntimeError("\u00fcn\u00efc\u00f6d\u00e9 \U0001F600")

def _deep(n):
    if n == 0:
        return {}["missing"]
    return _deep(n - 1)

def raises_nested(event, context):
    return _deep(3)

def raises_multiline(event, context):
    raise ValueError("line one\nline two")

def event_kind(event, context):
    return {"type": type(event).__name__, "value": event.decode("utf-8", "replace") if isinstance(event, bytes) else event}
"#;

const INVOKE_HANDLERS: &[&str] = &[
    "echo",
    "returns_str",
    "returns_bytes",
    "returns_none",
    "returns_decimal",
    "returns_floats",
    "returns_unicode",
    "returns_containers",
    "not_serializable",
    "not_serializable_object",
    "raises_value_error",
    "raises_custom",
    "raises_empty",
    "raises_unicode",
    "raises_nested",
    "raises_multiline",
    "event_kind",
];

fn events() -> Vec<Invoke> {
    let json = |s: &str| Invoke {
        body: s.to_owned().into(),
        ..Default::default()
    };
    vec![
        json("{}"),
        json(r#"{"a": 1, "b": [true, false, null], "c": "str", "d": 1.5e3, "e": -0}"#),
        json("{\n  \"pretty\": [\n    1,\n    2\n  ]\n}\n"),
        json(r#"{"unicode": "é😀漢", "escaped": "\u00e9\ud83d\ude00"}"#),
        json(r#"[1, 1.0, 1e400, 12345678901234567890123]"#),
        json(r#""just a string""#),
        json("{broken"),
        json(""),
        Invoke {
            body: "raw bytes \u{e9}".into(),
            content_type: Some("text/plain".into()),
            ..Default::default()
        },
        Invoke {
            body: "{\"a\": 1}".into(),
            content_type: Some("application/json; charset=utf-8".into()),
            ..Default::default()
        },
    ]
}

/// What one runtime produced for one case, normalised.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    kind: &'static str,
    body: String,
    content_type: Option<String>,
    xray: Option<String>,
}

fn normalise(text: &str, request_id: &str) -> String {
    text.replace(request_id, "<request-id>")
}

async fn run_case(api: &FakeApi, request: Invoke) -> Seen {
    let result = invoke(api, request).await;
    let id = result.request_id.clone();
    let xray = posts_for(api, &id)
        .first()
        .and_then(|p| header(p, "lambda-runtime-function-xray-error-cause"))
        .map(|x| normalise(&x, &id));
    let content_type = result.outcome.content_type().map(str::to_owned);
    let (kind, body, content_type) = match result.outcome {
        Outcome::Response { body, .. } => ("response", body, content_type),
        Outcome::Error { body, .. } => ("error", body, None),
        other => ("other", format!("{other:?}").into(), None),
    };
    Seen {
        kind,
        body: normalise(&String::from_utf8_lossy(&body), &id),
        content_type,
        xray,
    }
}

struct Runtime {
    api: FakeApi,
    _process: Running,
}

async fn start_runtime(peer: Option<&Path>, root: &Path, handler: &str) -> Runtime {
    let api = fake().await;
    let mut cmd = ferric_command(&api, root, &[handler]);
    if let Some(python) = peer {
        let mut peer_cmd = Command::new(python);
        peer_cmd.args(["-m", "awslambdaric", handler]);
        copy_env_and_io(&cmd, &mut peer_cmd, root);
        cmd = peer_cmd;
    }
    Runtime {
        _process: Running::spawn(cmd),
        api,
    }
}

fn copy_env_and_io(from: &Command, to: &mut Command, root: &Path) {
    to.env_clear();
    for (k, v) in from.as_std().get_envs() {
        if let Some(v) = v {
            to.env(k, v);
        }
    }
    to.current_dir(root)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
}

fn peer() -> std::path::PathBuf {
    awslambdaric_python().expect(
        "the differential test needs awslambdaric: run scripts/setup-peers.sh (the README's test command does)",
    )
}

#[tokio::test]
async fn invocations_match_awslambdaric_byte_for_byte() {
    let python = peer();
    let root = TaskRoot::new();
    root.write("cases.py", CASES);
    let mut compared = 0;
    let mut mismatches = Vec::new();
    for name in INVOKE_HANDLERS {
        let handler = format!("cases.{name}");
        let ours = start_runtime(None, root.path(), &handler).await;
        let theirs = start_runtime(Some(&python), root.path(), &handler).await;
        for (i, event) in events().into_iter().enumerate() {
            let a = run_case(&theirs.api, event.clone()).await;
            let b = run_case(&ours.api, event).await;
            compared += 1;
            if a != b {
                mismatches.push(format!(
                    "{handler} event #{i}:\n  awslambdaric: {a:?}\n  ferric:       {b:?}"
                ));
            }
        }
    }
    assert!(compared >= 150, "only {compared} cases compared");
    assert!(
        mismatches.is_empty(),
        "{} of {compared} cases differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[tokio::test]
async fn execution_env_python312_switches_off_ascii_escaping_in_both() {
    let python = peer();
    let root = TaskRoot::new();
    root.write("cases.py", CASES);
    let mut seen = Vec::new();
    for peer in [None, Some(python.as_path())] {
        let api = fake().await;
        let mut cmd = ferric_command(&api, root.path(), &["cases.returns_unicode"]);
        if let Some(python) = peer {
            let mut peer_cmd = Command::new(python);
            peer_cmd.args(["-m", "awslambdaric", "cases.returns_unicode"]);
            copy_env_and_io(&cmd, &mut peer_cmd, root.path());
            cmd = peer_cmd;
        }
        cmd.env("AWS_EXECUTION_ENV", "AWS_Lambda_python3.12");
        let _running = Running::spawn(cmd);
        seen.push(
            run_case(
                &api,
                Invoke {
                    body: "{}".into(),
                    ..Default::default()
                },
            )
            .await,
        );
    }
    assert_eq!(seen[0], seen[1]);
    assert!(seen[0].body.contains('😀'), "{:?}", seen[0]);
}

const INIT_CASES: &[(&str, &str, &str)] = &[
    ("nodot", "", ""),
    ("sys.handler", "", ""),
    ("missing.handler", "", ""),
    (
        "bad.handler",
        "bad.py",
        "def handler(event, context:\n    return 1\n",
    ),
    (
        "boom.handler",
        "boom.py",
        "import os\nx = {}\nx['missing']\n",
    ),
    (
        "custom.handler",
        "custom.py",
        "class Oops(Exception):\n    pass\nraise Oops('at import')\n",
    ),
    (
        "noattr.handler",
        "noattr.py",
        "def other(e, c):\n    return 1\n",
    ),
    (
        "nested/dir/mod.handler",
        "nested/dir/mod.py",
        "raise ImportError('inner dependency missing')\n",
    ),
    ("deps.handler", "deps.py", "import not_installed_anywhere\n"),
];

#[tokio::test]
async fn init_errors_match_awslambdaric_byte_for_byte() {
    let python = peer();
    let mut mismatches = Vec::new();
    for (handler, file, source) in INIT_CASES {
        let root = TaskRoot::new();
        if !file.is_empty() {
            root.write(file, source);
        }
        let mut seen = Vec::new();
        for peer in [None, Some(python.as_path())] {
            let rt = start_runtime(peer, root.path(), handler).await;
            let post = wait_for_init_error(&rt.api, &rt._process, Duration::from_secs(20)).await;
            seen.push((
                header(&post, "lambda-runtime-function-error-type"),
                String::from_utf8_lossy(&post.body).into_owned(),
            ));
        }
        if seen[0] != seen[1] {
            mismatches.push(format!(
                "{handler}:\n  ferric:       {:?}\n  awslambdaric: {:?}",
                seen[0], seen[1]
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
