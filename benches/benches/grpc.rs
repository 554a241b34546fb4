//! Time per unary gRPC call on loopback: bare tonic against tonic behind tracecore's layers.

use std::cell::RefCell;

use criterion::{Criterion, criterion_group, criterion_main};
use tracecore_benches::grpc::{Grpc, Stack};
use tracecore_benches::timed;

fn unary(c: &mut Criterion) {
    let mut g = c.benchmark_group("grpc_unary");
    for stack in Stack::ALL {
        let grpc = RefCell::new(Grpc::new(stack));
        g.bench_function(stack.name(), |b| {
            b.iter_custom(|n| timed(n, || grpc.borrow_mut().call(), || grpc.borrow().flush()))
        });
        assert_eq!(grpc.borrow().dropped(), 0, "no span dropped while timing");
    }
    g.finish();
}

criterion_group!(benches, unary);
criterion_main!(benches);
