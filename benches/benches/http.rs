//! Time per request of the server layer (in process, `oneshot`) and of the reqwest middleware
//! (loopback), tracecore and the anchors in the same run. `report` prints the added time over
//! the bare stacks.

use criterion::{Criterion, criterion_group, criterion_main};
use tracecore_benches::timed;
use tracecore_benches::{client, server};

fn server_layer(c: &mut Criterion) {
    let mut g = c.benchmark_group("server_layer");
    for stack in server::Stack::ALL {
        let s = server::Server::new(stack);
        g.bench_function(stack.name(), |b| {
            let _subscriber = tracing::dispatcher::set_default(&s.dispatch);
            b.iter_custom(|n| timed(n, || s.request(), || s.flush()))
        });
        assert_eq!(s.dropped(), 0, "no span dropped while timing");
    }
    g.finish();
}

fn reqwest_middleware(c: &mut Criterion) {
    let addr = client::start_server();
    let mut g = c.benchmark_group("reqwest_middleware");
    for stack in client::Stack::ALL {
        let cl = client::Client::new(stack, addr);
        g.bench_function(stack.name(), |b| {
            let _subscriber = tracing::dispatcher::set_default(&cl.dispatch);
            b.iter_custom(|n| timed(n, || cl.request(), || cl.flush()))
        });
        assert_eq!(cl.dropped(), 0, "no span dropped while timing");
    }
    g.finish();
}

criterion_group!(benches, server_layer, reqwest_middleware);
criterion_main!(benches);
