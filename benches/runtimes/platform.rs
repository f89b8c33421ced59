//! What every client sees of the platform: the fake Runtime API's options and the Lambda
//! environment variables.

use std::path::Path;
use std::time::Duration;

use ferric_fake_api::Options;

use crate::clients::{Client, Family};
use crate::lambda_env::lambda_env;

const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:bench-echo";

/// The platform every session runs against: `concurrency` invocations in flight at most (as
/// Lambda: 1; LMI: `AWS_LAMBDA_MAX_CONCURRENCY`), a 15-minute deadline, responses of any size
/// (a client that re-serialises the 5.5 MB event over Lambda's 6 MiB limit is still timed; the
/// report notes it), and no request records (the answers are all the harness keeps).
pub fn platform(concurrency: usize) -> Options {
    Options::default()
        .function_name("bench-echo")
        .function_arn(ARN)
        .function_timeout(Duration::from_secs(900))
        .max_in_flight(concurrency)
        .response_limit(None)
        .record(false)
}

/// The environment every client gets (as on Lambda), plus the client's own variables.
pub fn environment(
    client: &Client,
    task_root: &Path,
    api: &str,
    concurrency: usize,
) -> Vec<(String, String)> {
    let handler = match client.family {
        Family::Node => "index.handler",
        _ => "echo.handler",
    };
    let mut env = lambda_env("bench-echo", handler, task_root, Some(api), concurrency);
    env.extend(client.env.iter().cloned());
    env
}
