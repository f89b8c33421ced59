//! `AWS_LAMBDA_EXEC_WRAPPER` through the built binary: every worker starts through the wrapper
//! with its whole command line; a wrapper that is missing or not executable is the init error
//! Lambda's base images give (exit status 127 / 126, naming the setting).

mod support;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use ferric_fake_api::Outcome;
use serde_json::Value;
use support::*;

const WRAPPER: &str =
    "#!/bin/sh\nexport WRAPPED_BY=\"$0\"\nexport WRAPPED_ARGS=\"$#\"\nexec \"$@\"\n";

fn wrapper(root: &TaskRoot, mode: u32) -> String {
    root.write("wrapper.sh", WRAPPER);
    let path = root.path().join("wrapper.sh");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path.display().to_string()
}

async fn answer(root: &TaskRoot, handler: &str, wrapper: &str) -> (Value, Running) {
    let api = fake().await;
    let mut cmd = ferric_command(&api, root.path(), &[handler]);
    cmd.env("AWS_LAMBDA_EXEC_WRAPPER", wrapper);
    let running = Running::spawn(cmd);
    let r = invoke_json(&api, "{}").await;
    let body = match r.outcome {
        Outcome::Response { body, .. } => body,
        Outcome::InitError { body, .. } => body,
        other => panic!("{other:?}\n{}", running.stderr()),
    };
    (serde_json::from_slice(&body).unwrap(), running)
}

#[tokio::test]
async fn python_and_node_workers_start_through_the_wrapper() {
    let root = TaskRoot::new();
    root.write(
        "app.py",
        "import os\ndef handler(event, context):\n    return [os.environ.get('WRAPPED_BY'), os.environ.get('WRAPPED_ARGS')]\n",
    );
    root.write(
        "index.js",
        "exports.handler = async () => [process.env.WRAPPED_BY, process.env.WRAPPED_ARGS];\n",
    );
    let path = wrapper(&root, 0o755);
    for handler in ["app.handler", "index.handler"] {
        let (v, running) = answer(&root, handler, &path).await;
        assert_eq!(v[0], path.as_str(), "{handler}: {v}\n{}", running.stderr());
        // The interpreter and its arguments, at least: the wrapper got the whole command line.
        let args: usize = v[1].as_str().unwrap().parse().unwrap();
        assert!(args >= 2, "{handler}: {v}");
    }
}

#[tokio::test]
async fn a_missing_or_unexecutable_wrapper_is_an_init_error_naming_it() {
    let root = TaskRoot::new();
    root.write("app.py", "def handler(event, context):\n    return 1\n");
    let not_executable = wrapper(&root, 0o644);
    let missing = root.path().join("no-such-wrapper").display().to_string();
    for (path, status) in [(missing, 127), (not_executable, 126)] {
        let (v, mut running) = answer(&root, "app.handler", &path).await;
        assert_eq!(v["errorType"], "Runtime.ExitError", "{v}");
        let message = v["errorMessage"].as_str().unwrap();
        assert!(
            message.contains(&format!("exit status {status}")),
            "{message}"
        );
        assert!(
            message.contains(&format!("AWS_LAMBDA_EXEC_WRAPPER={path}")),
            "{message}"
        );
        let exit = running.wait(Duration::from_secs(20)).await;
        assert_eq!(exit.code(), Some(1), "{}", running.stderr());
    }
}
