//! The standalone Prometheus listener (`OTEL_METRICS_EXPORTER=prometheus`) as a hostile client
//! meets it, on real sockets: clients that trickle their request head, sit idle, or never read
//! their answer, and more connections than it serves at once. Scrapes keep being answered.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tracecore::metrics::{ManualReader, MeterProvider};
use tracecore_otlp::PrometheusListener;

/// A listener on loopback over a meter provider with one counter, and the provider.
fn listener() -> (PrometheusListener, MeterProvider) {
    let reader = ManualReader::new();
    let provider = MeterProvider::builder().with_reader(reader.clone()).build();
    provider
        .meter("app")
        .u64_counter("scraped.things")
        .build()
        .add(3, &[]);
    let listener = PrometheusListener::start("127.0.0.1:0".parse().unwrap(), reader).unwrap();
    (listener, provider)
}

/// One scrape, which must be answered within a second (it waits for nothing else).
fn scrape(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .expect("the scrape is answered within a second");
    answer
}

/// Whether the server closed `stream` within `within` (it reads end-of-stream or a reset).
fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 64];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn scrapes_are_answered_while_clients_trickle_sit_idle_and_never_read() {
    let (listener, _provider) = listener();
    let addr = listener.local_addr();
    let stop = Arc::new(AtomicBool::new(false));

    // 3 clients sending their head a byte every 300 ms.
    let tricklers: Vec<_> = (0..3)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(addr).unwrap();
                let started = Instant::now();
                for &b in b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n" {
                    if stop.load(Ordering::Relaxed) || started.elapsed() > Duration::from_secs(10) {
                        break;
                    }
                    if stream.write_all(&[b]).is_err() {
                        // Cut off by the server: the whole-request deadline.
                        return Some(started.elapsed());
                    }
                    std::thread::sleep(Duration::from_millis(300));
                }
                None
            })
        })
        .collect();
    // 50 connections that send nothing.
    let idle: Vec<TcpStream> = (0..50).map(|_| TcpStream::connect(addr).unwrap()).collect();
    // 3 clients that ask and never read.
    let deaf: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream
                .write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n")
                .unwrap();
            stream
        })
        .collect();

    for _ in 0..5 {
        let answer = scrape(addr);
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(
            answer.contains("scraped_things_total{otel_scope_name=\"app\"} 3"),
            "{answer}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The idle connections are closed once their head deadline passes.
    let mut idle = idle;
    assert!(closed_by_server(&mut idle[0], Duration::from_secs(5)));
    stop.store(true, Ordering::Relaxed);
    for trickler in tricklers {
        trickler.join().unwrap();
    }
    drop(deaf);
    assert!(scrape(addr).starts_with("HTTP/1.1 200 OK"));
}

#[test]
fn connections_past_the_limit_are_closed_not_queued_and_scrapes_resume() {
    let (listener, _provider) = listener();
    let addr = listener.local_addr();
    let mut flood: Vec<TcpStream> = (0..70).map(|_| TcpStream::connect(addr).unwrap()).collect();
    // The excess are closed at once.
    let closed_at_once = flood
        .iter_mut()
        .skip(64)
        .map(|s| closed_by_server(s, Duration::from_millis(500)))
        .filter(|&closed| closed)
        .count();
    assert!(
        closed_at_once >= 5,
        "{closed_at_once} of the 6 past the limit closed"
    );
    // Once the idle ones have had their 2 s, the listener serves again.
    assert!(closed_by_server(&mut flood[0], Duration::from_secs(5)));
    assert!(scrape(addr).contains("scraped_things_total{otel_scope_name=\"app\"} 3"));
}

#[test]
fn a_request_head_past_16_kib_is_cut_off() {
    let (listener, _provider) = listener();
    let mut stream = TcpStream::connect(listener.local_addr()).unwrap();
    let huge = format!(
        "GET /metrics HTTP/1.1\r\nx-pad: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let _ = stream.write_all(huge.as_bytes());
    let mut answer = String::new();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = stream.read_to_string(&mut answer);
    assert!(
        !answer.contains("200 OK"),
        "no answer to an oversized head: {answer}"
    );
}
