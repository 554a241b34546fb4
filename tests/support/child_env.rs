//! Tests of `OTEL_*` variables: each case runs the test binary again as a child process with
//! the variables set (changing the environment of a running multi-threaded test is not sound),
//! and the child checks the behaviour and prints the warnings it received.
//!
//! Included by path from the tests that need it.

#![allow(dead_code, unreachable_pub)]

use std::process::Command;
use std::sync::{Arc, Mutex};

/// Set in the child's environment, so that its `#[ignore]`d cases know they are the child.
pub const CHILD: &str = "TRACECORE_ENV_TEST_CHILD";

/// Runs the ignored test `name` in a child process with exactly `vars` among the `OTEL_*`
/// variables and returns its standard error (where the child prints its warnings).
pub fn run_child(name: &str, vars: &[(&str, &str)]) -> String {
    run_child_output(name, vars).1
}

/// Like [`run_child`], returning both standard output and standard error.
pub fn run_child_output(name: &str, vars: &[(&str, &str)]) -> (String, String) {
    let out = child_command(name, vars).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "child {name} failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("1 passed"),
        "child {name} did not run:\n{stdout}"
    );
    (stdout, stderr)
}

/// The command that runs the ignored test `name` as a child with `vars`.
pub fn child_command(name: &str, vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        name,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for (key, _) in std::env::vars() {
        if key.starts_with("OTEL_") {
            cmd.env_remove(key);
        }
    }
    cmd.env(CHILD, "1").envs(vars.iter().copied());
    cmd
}

/// In a child: collects warnings instead of printing them, to print with [`report`]. `None`
/// when not running as a child (the ignored case was run by hand: nothing to do).
pub fn child_warnings() -> Option<Arc<Mutex<Vec<String>>>> {
    std::env::var_os(CHILD)?;
    let warnings = Arc::new(Mutex::new(Vec::new()));
    let sink = warnings.clone();
    tracecore::diag::set_warning_handler(move |w| sink.lock().unwrap().push(w.to_owned())).unwrap();
    Some(warnings)
}

/// In a child: prints the warnings collected, one `WARNING ...` line each.
pub fn report(warnings: &Mutex<Vec<String>>) {
    for w in warnings.lock().unwrap().iter() {
        eprintln!("WARNING {w}");
    }
}
