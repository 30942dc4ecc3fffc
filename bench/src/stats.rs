//! Samples, medians, and the result line every implementation prints:
//! `RESULT impl=<name> workload=<name> <metric>=<value> ...`.

use std::collections::BTreeMap;

/// One measurement: which implementation, which workload, its metrics.
#[derive(Clone, Debug)]
pub struct Sample {
    #[allow(dead_code)]
    pub implementation: String,
    pub workload: String,
    pub metrics: BTreeMap<String, f64>,
}

/// Parses the RESULT lines of a program's output.
pub fn parse(output: &str) -> Vec<Sample> {
    output
        .lines()
        .filter_map(|line| line.strip_prefix("RESULT "))
        .filter_map(|rest| {
            let mut implementation = None;
            let mut workload = None;
            let mut metrics = BTreeMap::new();
            for field in rest.split_whitespace() {
                let (k, v) = field.split_once('=')?;
                match k {
                    "impl" => implementation = Some(v.to_string()),
                    "workload" => workload = Some(v.to_string()),
                    _ => {
                        if let Ok(x) = v.parse::<f64>() {
                            metrics.insert(k.to_string(), x);
                        }
                    }
                }
            }
            Some(Sample { implementation: implementation?, workload: workload?, metrics })
        })
        .collect()
}

/// The median of some values (the mean of the middle two for an even count).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let n = values.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Latency samples (ns) as mean/p50/p99 metrics in µs.
pub fn latency_line(implementation: &str, mut ns: Vec<u64>) -> String {
    ns.sort_unstable();
    let n = ns.len().max(1);
    let mean = ns.iter().sum::<u64>() as f64 / n as f64 / 1000.0;
    format!(
        "RESULT impl={implementation} workload=pingpong mean_us={mean:.3} p50_us={:.3} p99_us={:.3}",
        ns.get(n / 2).copied().unwrap_or(0) as f64 / 1000.0,
        ns.get(n * 99 / 100).copied().unwrap_or(0) as f64 / 1000.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_result_lines_and_ignores_the_rest() {
        let s = parse("noise\nRESULT impl=a workload=bulk mib_s=12.5 bytes=4\n");
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].implementation, "a");
        assert_eq!(s[0].metrics["mib_s"], 12.5);
    }

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
