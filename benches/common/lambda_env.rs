//! The environment Lambda gives a function, which every bench (runtimes, soak, streaming)
//! starts its clients with.

use std::path::Path;

/// Lambda's variables for the function `function` with `handler` in `task_root`: the Runtime
/// API's address when there is one, `AWS_LAMBDA_MAX_CONCURRENCY` above 1, and the harness's
/// `PATH` and `HOME`.
pub fn lambda_env(
    function: &str,
    handler: &str,
    task_root: &Path,
    api: Option<&str>,
    concurrency: usize,
) -> Vec<(String, String)> {
    let root = task_root.display().to_string();
    let log_group = format!("/aws/lambda/{function}");
    let mut env: Vec<(String, String)> = [
        ("_HANDLER", handler),
        ("LAMBDA_TASK_ROOT", root.as_str()),
        ("AWS_LAMBDA_FUNCTION_NAME", function),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", log_group.as_str()),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/01/01/[$LATEST]0123456789abcdef",
        ),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("TZ", ":UTC"),
        ("LANG", "C.UTF-8"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for var in ["PATH", "HOME"] {
        if let Ok(v) = std::env::var(var) {
            env.push((var.into(), v));
        }
    }
    if let Some(api) = api {
        env.push(("AWS_LAMBDA_RUNTIME_API".into(), api.into()));
    }
    if concurrency > 1 {
        env.push(("AWS_LAMBDA_MAX_CONCURRENCY".into(), concurrency.to_string()));
    }
    env
}
