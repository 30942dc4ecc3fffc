//! The same workloads through libponynet's Rust API (`ponynet::net`).

/// Runs one workload and returns its RESULT line; None where not implemented.
pub fn run(_workload: &str, _n: u64, _arg: u64) -> Option<String> {
    None
}
