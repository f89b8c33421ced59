//! `ferric-fake-api`: the fake Lambda Runtime API as a process, with its control API on the
//! same port (see `fake-api/README.md`). Prints `listening on HOST:PORT` as its first line.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use ferric_fake_api::{FakeApi, Options};

const USAGE: &str = "\
usage: ferric-fake-api [OPTIONS]

  --listen ADDR          where to listen (default 127.0.0.1:0, a free port)
  --timeout-ms N         the function timeout (default 30000)
  --function-name NAME   sets the ARN and the registration answer (default test_function)
  --arn ARN              the invoked function ARN
  --max-in-flight N      invocations in flight at once (default 1; LMI: AWS_LAMBDA_MAX_CONCURRENCY)
  --slack-ms N           how long after the deadline an invoke is timed out (default 2000)
  --no-record            do not keep requests (GET /_fake/requests answers [])

Prints `listening on HOST:PORT` first; serves the Runtime API and /_fake/ on that port until
POST /_fake/shutdown, SIGINT or SIGTERM.
";

fn parse(args: &[String]) -> Result<(SocketAddr, Options), String> {
    let mut listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut options = Options::default().control(true);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
        let ms = |v: String, name: &str| {
            v.parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| format!("{name}: {v:?} is not a whole number"))
        };
        match arg.as_str() {
            "--listen" => {
                let v = value("--listen")?;
                listen = v
                    .parse()
                    .map_err(|_| format!("--listen: {v:?} is not HOST:PORT"))?;
            }
            "--timeout-ms" => options.function_timeout = ms(value(arg)?, arg)?,
            "--slack-ms" => options.timeout_slack = ms(value(arg)?, arg)?,
            "--function-name" => options = options.function_name(&value(arg)?),
            "--arn" => options.function_arn = value(arg)?,
            "--max-in-flight" => {
                let v = value(arg)?;
                let n: usize = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(format!("--max-in-flight: {v:?} is not a positive number"))?;
                options.max_in_flight = n;
            }
            "--no-record" => options.record = false,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok((listen, options))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (listen, options) = match parse(&args) {
        Ok(v) => v,
        Err(e) if e.is_empty() => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("ferric-fake-api: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ferric-fake-api: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(async move {
        let api = match FakeApi::start_on(listen, options).await {
            Ok(api) => api,
            Err(e) => {
                eprintln!("ferric-fake-api: cannot listen on {listen}: {e}");
                return ExitCode::from(1);
            }
        };
        let mut out = std::io::stdout();
        let _ = writeln!(out, "listening on {}", api.address());
        let _ = out.flush();
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let terminated = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = api.stopped() => {}
            _ = tokio::signal::ctrl_c() => {}
            _ = terminated => {}
        }
        ExitCode::SUCCESS
    })
}
