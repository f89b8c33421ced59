//! The front door's cost per request against the invoke endpoint (not a timed test).

use std::time::{Duration, Instant};

use crate::support::*;

/// Medians of many sequential requests through the front door and through the invoke endpoint
/// with the same echo worker; prints the numbers, asserts nothing about them.
#[test]
#[ignore = "a measurement: cargo test --release --test front_door -- --ignored --nocapture"]
fn measure_front_door_overhead() {
    let f = Ferric::start(Worker::Raw, &[]);
    let event = std::fs::read_to_string(repo().join("examples/events/apigw-http-v2.json")).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (door, rie) = runtime.block_on(async {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let door_url = format!("{}/hello?name=Ferris", f.door());
        let rie_url = format!("{}{INVOKE}", f.invoke);
        let (mut door, mut rie) = (Vec::new(), Vec::new());
        for i in 0..4200 {
            let started = Instant::now();
            let door_reply = client.get(&door_url).send().await.unwrap();
            assert_eq!(door_reply.status(), 200);
            door_reply.bytes().await.unwrap();
            let door_took = started.elapsed();
            let started = Instant::now();
            let rie_reply = client
                .post(&rie_url)
                .body(event.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(rie_reply.status(), 200);
            rie_reply.bytes().await.unwrap();
            if i >= 200 {
                door.push(door_took);
                rie.push(started.elapsed());
            }
        }
        (door, rie)
    });
    let stats = |mut v: Vec<Duration>| {
        v.sort();
        let at = |q: f64| v[((v.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
        (at(0.5), at(0.9), at(0.99))
    };
    let (d50, d90, d99) = stats(door);
    let (r50, r90, r99) = stats(rie);
    println!("4000 sequential requests each, interleaved, same echo worker (door_worker.py):");
    println!(
        "  front door GET /hello?name=Ferris: p50 {d50:.0} µs  p90 {d90:.0} µs  p99 {d99:.0} µs"
    );
    println!("  invoke endpoint POST (apigw-http-v2.json): p50 {r50:.0} µs  p90 {r90:.0} µs  p99 {r99:.0} µs");
    println!("  front door overhead at the median: {:.0} µs", d50 - r50);
}
