//! `make bench`: every workload on every implementation, in one run, as
//! medians of N repetitions and ratios against raw epoll and tokio.
//!
//! Each measurement runs in a fresh process (the C programs, or this binary
//! again with `--impl`), so no run inherits another's threads or sockets.
//!
//! Environment: BENCH_REPS (repetitions, default 7), BENCH_QUICK=1 (small
//! sizes, one repetition), BENCH_BIN (the C programs, default bench/build),
//! BENCH_OUT (results directory, default bench).

mod chart;
mod rust_impl;
mod stats;
mod tokio_impl;

use stats::{median, parse, Sample};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

/// A workload: its name in the table, the program's workload argument,
/// size arguments (full, quick), and the metric that decides.
struct Workload {
    row: &'static str,
    arg: &'static str,
    full: (u64, u64),
    quick: (u64, u64),
    metric: &'static str,
    lower_is_better: bool,
    impls: &'static [&'static str],
}

const ALL: &[&str] = &["epoll-1t", "epoll-2t", "c-abi", "rust-api", "tokio"];
const ONE_THREAD: &[&str] = &["epoll-1t", "c-abi", "rust-api", "tokio"];

/// c10k holds 9,000 connections, not 10,000: both ends live in the measuring
/// process (18,000 sockets), and this machine's hard fd limit is 20,000.
const WORKLOADS: &[Workload] = &[
    Workload { row: "pingpong", arg: "pingpong", full: (100_000, 0), quick: (20_000, 0), metric: "p50_us", lower_is_better: true, impls: ALL },
    Workload { row: "bulk", arg: "bulk", full: (2 << 30, 0), quick: (256 << 20, 0), metric: "mib_s", lower_is_better: false, impls: ALL },
    Workload { row: "connrate-seq", arg: "connrate", full: (5_000, 1), quick: (1_000, 1), metric: "conns_s", lower_is_better: false, impls: ONE_THREAD },
    Workload { row: "connrate-par", arg: "connrate", full: (5_000, 8), quick: (1_000, 8), metric: "conns_s", lower_is_better: false, impls: ONE_THREAD },
    Workload { row: "many", arg: "many", full: (1_000, 100), quick: (200, 20), metric: "rt_s", lower_is_better: false, impls: ONE_THREAD },
    Workload { row: "c10k", arg: "c10k", full: (9_000, 0), quick: (2_000, 0), metric: "bytes_per_conn", lower_is_better: true, impls: ONE_THREAD },
    Workload { row: "dispatch-send-1", arg: "dispatch", full: (2_000_000, 1), quick: (200_000, 1), metric: "per_s", lower_is_better: false, impls: &["c-abi", "rust-api"] },
    Workload { row: "dispatch-send-100", arg: "dispatch", full: (2_000_000, 100), quick: (200_000, 100), metric: "per_s", lower_is_better: false, impls: &["c-abi", "rust-api"] },
    Workload { row: "dispatch-fd", arg: "dispatch-fd", full: (500_000, 0), quick: (100_000, 0), metric: "per_s", lower_is_better: false, impls: &["epoll-1t", "c-abi", "rust-api"] },
];

/// (row, implementation) -> metric -> the sample of each round (None: that
/// run failed).
type Rounds = BTreeMap<(String, String), BTreeMap<String, Vec<Option<f64>>>>;

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1")
}

fn command_for(implementation: &str, w: &Workload, n: u64, arg: u64) -> Command {
    let bin = PathBuf::from(std::env::var("BENCH_BIN").unwrap_or_else(|_| "bench/build".into()));
    let (program, args): (PathBuf, Vec<String>) = match implementation {
        "epoll-1t" | "epoll-2t" => {
            let raw_workload = if w.arg == "dispatch-fd" { "dispatch" } else { w.arg };
            let threads = if implementation == "epoll-2t" { 2 } else { arg.max(1) };
            (bin.join("raw_epoll"), vec![raw_workload.into(), n.to_string(), threads.to_string()])
        }
        "c-abi" => (bin.join("ponynet_c"), vec![w.arg.into(), n.to_string(), arg.to_string()]),
        other => {
            let me = std::env::current_exe().expect("current exe");
            let name = if other == "tokio" { "tokio" } else { "rust" };
            (me, vec!["--impl".into(), name.into(), w.arg.into(), n.to_string(), arg.to_string()])
        }
    };
    let mut cmd = Command::new(program);
    cmd.args(args);
    cmd
}

/// Runs one measurement; None (with a note) if the program failed.
fn measure(implementation: &str, w: &Workload, n: u64, arg: u64) -> Option<Sample> {
    let out = command_for(implementation, w, n, arg).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        eprintln!(
            "  {implementation} {}: failed ({}): {}",
            w.row,
            out.status,
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")
        );
        return None;
    }
    parse(&text).into_iter().find(|s| s.workload == w.row || (s.workload == "dispatch-fd" && w.row == "dispatch-fd"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() >= 6 && args[1] == "--impl" {
        let (n, arg) = (args[4].parse().unwrap_or(0), args[5].parse().unwrap_or(0));
        let line = match args[2].as_str() {
            "tokio" => tokio_impl::run(&args[3], n, arg),
            _ => rust_impl::run(&args[3], n, arg),
        };
        match line {
            Some(l) => println!("{l}"),
            None => std::process::exit(3),
        }
        return;
    }
    if args.get(1).is_some_and(|a| a == "--render") {
        // Redraw the table and chart from a results.csv of an earlier run.
        let out_dir = PathBuf::from(std::env::var("BENCH_OUT").unwrap_or_else(|_| "bench".into()));
        let csv = std::fs::read_to_string(out_dir.join("results.csv")).expect("read results.csv");
        let mut medians: BTreeMap<(String, String), BTreeMap<String, f64>> = BTreeMap::new();
        for line in csv.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            if let [row, implementation, metric, value] = f[..] {
                if let Ok(v) = value.parse() {
                    medians.entry((row.into(), implementation.into())).or_default().insert(metric.into(), v);
                }
            }
        }
        let reps = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(3);
        write_reports(&medians, reps, &out_dir);
        return;
    }
    let quick = env_flag("BENCH_QUICK");
    let reps: usize = if quick { 1 } else { std::env::var("BENCH_REPS").ok().and_then(|v| v.parse().ok()).unwrap_or(7) };
    let out_dir = PathBuf::from(std::env::var("BENCH_OUT").unwrap_or_else(|_| "bench".into()));

    // (row, impl) -> metric -> sample of each round (None: that run failed)
    let mut results: Rounds = BTreeMap::new();
    let mut failures = 0;
    for w in WORKLOADS {
        let (n, arg) = if quick { w.quick } else { w.full };
        // Round-robin over the implementations, so that a slow phase of the
        // machine (these are shared virtual machines) weighs on all alike.
        for rep in 0..reps {
            for &implementation in w.impls {
                match measure(implementation, w, n, arg) {
                    Some(s) => {
                        let entry = results.entry((w.row.to_string(), implementation.to_string())).or_default();
                        for (k, v) in s.metrics {
                            entry.entry(k).or_insert_with(|| vec![None; reps])[rep] = Some(v);
                        }
                    }
                    None => failures += 1,
                }
            }
            eprintln!("  done: {} round {}/{reps}", w.row, rep + 1);
        }
    }

    let mut medians: BTreeMap<(String, String), BTreeMap<String, f64>> = results
        .iter()
        .map(|(k, metrics)| {
            let m = metrics.iter().map(|(m, v)| (m.clone(), median(&mut v.iter().flatten().copied().collect::<Vec<f64>>())));
            (k.clone(), m.collect())
        })
        .collect();
    add_paired_ratios(&results, &mut medians);

    std::fs::create_dir_all(&out_dir).ok();
    std::fs::write(out_dir.join("results.csv"), render_csv(&medians)).expect("write results.csv");
    write_reports(&medians, reps, &out_dir);
    if failures > 0 {
        eprintln!("{failures} measurement(s) failed");
        std::process::exit(1);
    }
}

/// Adds, for each workload's deciding metric, `<metric>/<baseline>`: the
/// median over the rounds of the ratio of the two values measured in that
/// round. A round's runs are seconds apart, so a slow phase of the machine
/// weighs on both sides of each ratio alike.
fn add_paired_ratios(
    results: &Rounds,
    medians: &mut BTreeMap<(String, String), BTreeMap<String, f64>>,
) {
    for w in WORKLOADS {
        let rounds = |i: &str| results.get(&(w.row.to_string(), i.to_string())).and_then(|m| m.get(w.metric)).cloned();
        for base in ["epoll-1t", "tokio"] {
            let Some(b) = rounds(base) else { continue };
            for &i in w.impls {
                let Some(v) = rounds(i) else { continue };
                let mut r: Vec<f64> =
                    v.iter().zip(&b).filter_map(|(v, b)| Some((*v)? / (*b).filter(|b| *b != 0.0)?)).collect();
                if !r.is_empty() {
                    let paired = median(&mut r);
                    medians.entry((w.row.to_string(), i.to_string())).or_default().insert(format!("{}/{base}", w.metric), paired);
                }
            }
        }
    }
}

/// Prints the table and writes results.md and results.svg.
fn write_reports(medians: &BTreeMap<(String, String), BTreeMap<String, f64>>, reps: usize, out_dir: &std::path::Path) {
    let machine = machine_line();
    let table = render_table(medians, reps, &machine);
    println!("{table}");
    std::fs::write(out_dir.join("results.md"), &table).expect("write results.md");
    std::fs::write(out_dir.join("results.svg"), chart::render(chart_rows(medians), &machine)).expect("write results.svg");
    eprintln!("wrote {0}/results.csv, {0}/results.md, {0}/results.svg", out_dir.display());
}

/// Speed relative to raw epoll (higher is better) per row and implementation.
fn chart_rows(medians: &BTreeMap<(String, String), BTreeMap<String, f64>>) -> Vec<(String, Vec<(String, f64)>)> {
    WORKLOADS
        .iter()
        .filter_map(|w| {
            // Raw epoll holds no per-connection state, so c10k memory is
            // charted against tokio instead.
            let base_impl = if w.row == "c10k" {
                "tokio"
            } else if w.impls.contains(&"epoll-1t") {
                "epoll-1t"
            } else {
                "c-abi"
            };
            let base = medians.get(&(w.row.to_string(), base_impl.to_string()))?.get(w.metric).copied()?;
            let bars = w
                .impls
                .iter()
                .filter_map(|i| {
                    let m = medians.get(&(w.row.to_string(), i.to_string()))?;
                    let r = m.get(&format!("{}/{base_impl}", w.metric)).copied().unwrap_or(m.get(w.metric).copied()? / base);
                    let speed = if w.lower_is_better { 1.0 / r } else { r };
                    Some((i.to_string(), speed))
                })
                .collect::<Vec<_>>();
            Some((format!("{} (vs {base_impl})", w.row), bars))
        })
        .collect()
}

/// `paired` (see `add_paired_ratios`), else the ratio of the medians.
fn ratio(paired: Option<f64>, a: Option<f64>, b: Option<f64>) -> String {
    match (paired, a, b) {
        (Some(r), _, _) => format!("{r:.2}×"),
        (None, Some(a), Some(b)) if b != 0.0 => format!("{:.2}×", a / b),
        _ => "–".into(),
    }
}

fn render_table(medians: &BTreeMap<(String, String), BTreeMap<String, f64>>, reps: usize, machine: &str) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "libponynet benchmarks — medians of {reps} run(s); ratios: median of the per-round ratios; {machine}\n");
    let _ = writeln!(t, "| workload | metric | implementation | value | vs epoll-1t | vs tokio |");
    let _ = writeln!(t, "|---|---|---|---:|---:|---:|");
    for w in WORKLOADS {
        let get = |i: &str| medians.get(&(w.row.to_string(), i.to_string())).and_then(|m| m.get(w.metric).copied());
        for &i in w.impls {
            let Some(v) = get(i) else {
                let _ = writeln!(t, "| {} | {} | {i} | not measured | | |", w.row, w.metric);
                continue;
            };
            let paired = |base: &str| {
                medians.get(&(w.row.to_string(), i.to_string())).and_then(|m| m.get(&format!("{}/{base}", w.metric)).copied())
            };
            let (vs_raw, vs_tokio) =
                (ratio(paired("epoll-1t"), Some(v), get("epoll-1t")), ratio(paired("tokio"), Some(v), get("tokio")));
            let _ = writeln!(t, "| {} | {} | {i} | {v:.2} | {vs_raw} | {vs_tokio} |", w.row, w.metric);
        }
        if w.row == "pingpong" {
            for extra in ["mean_us", "p99_us"] {
                for &i in w.impls {
                    if let Some(v) = medians.get(&(w.row.to_string(), i.to_string())).and_then(|m| m.get(extra)) {
                        let _ = writeln!(t, "| {} | {extra} | {i} | {v:.2} | | |", w.row);
                    }
                }
            }
        }
        if w.row == "c10k" {
            for &i in w.impls {
                if let Some(v) = medians.get(&(w.row.to_string(), i.to_string())).and_then(|m| m.get("drain_ms")) {
                    let _ = writeln!(t, "| c10k | drain_ms | {i} | {v:.2} | | |");
                }
            }
        }
    }
    t
}

fn render_csv(medians: &BTreeMap<(String, String), BTreeMap<String, f64>>) -> String {
    let mut s = String::from("workload,implementation,metric,median\n");
    for ((row, i), metrics) in medians {
        for (m, v) in metrics {
            let _ = writeln!(s, "{row},{i},{m},{v}");
        }
    }
    s
}

fn machine_line() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cores} cores, {cpu}")
}

/// Raises the soft fd limit toward `want` (as far as the hard limit allows).
pub fn raise_nofile(want: u64) {
    let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: rl is a valid out-parameter.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) };
    if rl.rlim_cur < want {
        rl.rlim_cur = want.min(rl.rlim_max);
        // SAFETY: rl is a valid in-parameter.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) };
    }
}

/// Resident memory of this process, in bytes.
pub fn rss_bytes() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<i64>().ok()))
        .map_or(0, |kib| kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paired_ratios_follow_the_rounds_not_the_medians() {
        // The machine was twice as slow in round 2: both sides moved together.
        let mut results: Rounds = BTreeMap::new();
        let mut put = |i: &str, v: [f64; 3]| {
            let rounds = v.iter().map(|x| Some(*x)).collect();
            results.entry(("pingpong".into(), i.into())).or_default().insert("p50_us".into(), rounds);
        };
        put("epoll-1t", [4.0, 8.0, 4.2]);
        put("rust-api", [4.4, 8.8, 8.0]);
        let mut medians = BTreeMap::new();
        add_paired_ratios(&results, &mut medians);
        let r = medians[&("pingpong".to_string(), "rust-api".to_string())]["p50_us/epoll-1t"];
        // Per round: 1.10, 1.10, 1.90 -> 1.10 (the ratio of medians would say 8.0/4.2 = 1.90).
        assert!((r - 1.1).abs() < 1e-9, "{r}");
    }
}
