//! Echo function on lambda_runtime: returns the event it was given. The benchmark floor.
//! A current-thread tokio runtime: on the 2-core bench machine it halves the latency of the
//! multi-threaded default (see /work/shared/DESIGN.md). With AWS_LAMBDA_MAX_CONCURRENCY set,
//! `run_concurrent` polls /next that many times at once.
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

async fn echo(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run_concurrent(service_fn(echo)).await
}
