//! A small SVG bar chart: per workload, each implementation's speed
//! relative to the baseline (1.0 = as fast; higher is better).

use std::fmt::Write as _;

const COLORS: &[(&str, &str)] = &[
    ("epoll-1t", "#4c4c4c"),
    ("epoll-2t", "#9a9a9a"),
    ("c-abi", "#1f77b4"),
    ("rust-api", "#2ca02c"),
    ("tokio", "#d62728"),
];

fn color(name: &str) -> &'static str {
    COLORS.iter().find(|(n, _)| *n == name).map_or("#8c564b", |(_, c)| c)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Renders `rows` (label, [(implementation, relative speed)]).
pub fn render(rows: Vec<(String, Vec<(String, f64)>)>, machine: &str) -> String {
    let bar_h = 14.0;
    let gap = 10.0;
    let left = 230.0;
    let width = 900.0;
    let plot_w = width - left - 80.0;
    let max = rows
        .iter()
        .flat_map(|(_, bars)| bars.iter().map(|(_, v)| *v))
        .filter(|v| v.is_finite())
        .fold(1.0f64, f64::max)
        // Longer bars are clipped at 3×; their labels still give the value.
        .min(3.0);
    let height = 70.0 + rows.iter().map(|(_, b)| b.len() as f64 * bar_h + gap).sum::<f64>() + 40.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(s, r#"<text x="10" y="20" font-size="15">libponynet: each figure relative to the baseline named on its row (1.0 = as good); higher is better</text>"#);
    let _ = writeln!(s, r#"<text x="10" y="38" fill="gray">{}</text>"#, escape(machine));
    let x_of = |v: f64| left + plot_w * (v.min(max) / max);
    let top = 55.0;
    let _ = writeln!(
        s,
        r#"<line x1="{0:.1}" y1="{top}" x2="{0:.1}" y2="{1:.0}" stroke="black" stroke-dasharray="4 3"/>"#,
        x_of(1.0),
        height - 30.0
    );
    let mut y = top + 5.0;
    for (label, bars) in &rows {
        let _ = writeln!(s, r#"<text x="10" y="{:.1}">{}</text>"#, y + bar_h, escape(label));
        for (name, v) in bars {
            let w = (x_of(*v) - left).max(1.0);
            let _ = writeln!(s, r#"<rect x="{left}" y="{y:.1}" width="{w:.1}" height="{:.1}" fill="{}"/>"#, bar_h - 2.0, color(name));
            let _ = writeln!(s, r#"<text x="{:.1}" y="{:.1}" font-size="10">{} {v:.2}</text>"#, left + w + 4.0, y + bar_h - 4.0, escape(name));
            y += bar_h;
        }
        y += gap;
    }
    let mut lx = 10.0;
    for (name, c) in COLORS {
        let _ = writeln!(s, r#"<rect x="{lx}" y="{:.0}" width="10" height="10" fill="{c}"/><text x="{:.0}" y="{:.0}">{name}</text>"#, height - 22.0, lx + 14.0, height - 13.0);
        lx += 110.0;
    }
    s.push_str("</svg>\n");
    s
}
