//! The long run through ferric's built-in emulator: `ferric echo.handler` without
//! `AWS_LAMBDA_RUNTIME_API` (`FERRIC_LISTEN` on a free port, `FERRIC_HTTP_LISTEN=off`), called
//! on its RIE invoke endpoint over one kept-alive HTTP/1.1 connection, one call at a time, each
//! with its own event and `X-Amzn-Trace-Id`.

use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

use crate::invocations;
use crate::long::{segments, Plan, Series};
use crate::sample;
use crate::spawn::{Client, Launcher, Runtime, Start};

const INVOKE_PATH: &str = "/2015-03-31/functions/function/invocations";

/// A free port on 127.0.0.1 (free when asked; the emulator binds it a moment later).
fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// Connect to the invoke endpoint, waiting for ferric to listen (up to 30 s).
async fn connect(address: &str, client: &mut Client) -> Result<SendRequest<Full<Bytes>>, String> {
    let until = Instant::now() + Duration::from_secs(30);
    let stream = loop {
        match tokio::net::TcpStream::connect(address).await {
            Ok(s) => break s,
            Err(_) if Instant::now() < until => {
                if let Ok(Some(status)) = client.child.try_wait() {
                    return Err(format!(
                        "ferric exited ({status}); log:\n{}",
                        client.log_tail(8)
                    ));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(format!("cannot connect to {address}: {e}")),
        }
    };
    let _ = stream.set_nodelay(true);
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    tokio::spawn(conn);
    Ok(send)
}

/// One invocation; checks the echo.
async fn call(send: &mut SendRequest<Full<Bytes>>, address: &str, n: u64) -> Result<(), String> {
    let (event, trace) = invocations::emulator_call();
    let mut request = http::Request::post(INVOKE_PATH)
        .header(http::header::HOST, address)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("x-amzn-trace-id", trace);
    if n % 16 == 15 {
        let context =
            format!("{{\"custom\": {{\"n\": \"{n}\"}}, \"env\": {{\"platform\": \"soak\"}}}}");
        let b64 = base64::engine::general_purpose::STANDARD.encode(context);
        request = request.header("x-amz-client-context", b64);
    }
    let request = request
        .body(Full::new(Bytes::from(event.clone())))
        .map_err(|e| e.to_string())?;
    send.ready().await.map_err(|e| format!("connection: {e}"))?;
    let answer = send
        .send_request(request)
        .await
        .map_err(|e| format!("invoke: {e}"))?;
    let status = answer.status();
    let body = answer
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("reading the answer: {e}"))?
        .to_bytes();
    if status != http::StatusCode::OK {
        let preview = ferric_fake_api::preview(&body);
        return Err(format!("invoke answered {status}: {preview}"));
    }
    invocations::check_echo(event.as_bytes(), &body)
}

/// ferric serving the invoke endpoint, and a connection to it.
struct Serving {
    client: Client,
    send: SendRequest<Full<Bytes>>,
    address: String,
    calls: u64,
}

impl Serving {
    async fn start(launcher: &Launcher) -> Result<Serving, String> {
        let address = format!("127.0.0.1:{}", free_port()?);
        let mut start = Start::new(Runtime::Ferric, "echo.handler", None, "emulator-ferric.log");
        start.env = vec![
            ("FERRIC_LISTEN".into(), address.clone()),
            ("FERRIC_HTTP_LISTEN".into(), "off".into()),
        ];
        let mut client = launcher.spawn(&start)?;
        let send = connect(&address, &mut client).await?;
        Ok(Serving {
            client,
            send,
            address,
            calls: 0,
        })
    }

    /// `n` calls in a row; returns their rate.
    async fn feed(&mut self, n: u64) -> Result<f64, String> {
        let t = Instant::now();
        for _ in 0..n {
            self.calls += 1;
            let called = tokio::time::timeout(
                Duration::from_secs(60),
                call(&mut self.send, &self.address, self.calls),
            );
            match called.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(format!("{e}; log tail:\n{}", self.client.log_tail(8))),
                Err(_) => return Err("an invoke took over 60 s".into()),
            }
        }
        Ok(n as f64 / t.elapsed().as_secs_f64().max(1e-9))
    }
}

/// The run: warm-up, then `plan.checkpoints` samples.
pub async fn run(launcher: &Launcher, plan: &Plan) -> Series {
    let mut series = Series::new(Runtime::Ferric);
    if let Err(e) = run_into(launcher, plan, &mut series).await {
        eprintln!("soak: emulator: {}", e.lines().next().unwrap_or(""));
        series.failure = Some(e);
    }
    series
}

async fn run_into(launcher: &Launcher, plan: &Plan, series: &mut Series) -> Result<(), String> {
    let mut s = Serving::start(launcher).await?;
    s.feed(plan.warmup.max(1)).await?;
    let pid = s.client.pid;
    let gone = || "ferric is gone".to_string();
    series
        .samples
        .push(sample::take(pid, 0).await.ok_or_else(gone)?);
    let started = Instant::now();
    for segment in segments(plan.invocations, plan.checkpoints) {
        for chunk in segments(segment, segment.div_ceil(plan.chunk.max(1))) {
            let t = Instant::now();
            let rate = s.feed(chunk).await?;
            series.wall += t.elapsed();
            series.rates.push(rate);
            series.answered += chunk;
        }
        let x = sample::take(pid, series.answered).await.ok_or_else(gone)?;
        eprintln!(
            "soak: emulator: {:.0} s: {} done, RSS {:.2} + {:.2} MiB, fds {} + {}",
            started.elapsed().as_secs_f64(),
            series.answered,
            x.main.rss_kib as f64 / 1024.0,
            x.workers.iter().map(|w| w.rss_kib).sum::<u64>() as f64 / 1024.0,
            x.main.fds,
            x.workers.iter().map(|w| w.fds).sum::<u64>(),
        );
        series.samples.push(x);
    }
    Ok(())
}
