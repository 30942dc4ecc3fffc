//! Build side of `pony_os_sockopt_level` / `pony_os_sockopt_option`: turns
//! Pony's stable option numbers (`data/sockopt_numbers.tsv`) into this
//! platform's values, read from its own headers by a C probe, and writes
//! them as two sorted Rust tables to `$OUT_DIR/sockopt_table.rs` (included
//! by `src/os/sockopt.rs`).
//!
//! A constant may be a macro or an enum member: glibc's `IPPROTO_MAX` and
//! `IPPORT_USERRESERVED`, `SCTP_CLOSED`... in `<linux/sctp.h>`, the TIPC
//! scopes are enum members with no `#define`, so `#ifdef` alone would miss
//! them. The probe therefore asks the compiler itself, in two steps:
//! 1. which names are integer constant expressions: one
//!    `enum { e = (int)(NAME) };` line per name, compiled with
//!    `-fsyntax-only` and `_GNU_SOURCE` (as the C tests are); a line the
//!    compiler rejects is a name this platform lacks (or whose macro is no
//!    integer constant). Rejected lines are dropped and the check repeated
//!    until the file compiles.
//! 2. their values: a program printing `(int)(NAME)` for each name that
//!    passed (the `int` the C ABI returns) is compiled and run.
//!
//! The header set is `data/sockopt_headers.h`, shared with the C test that
//! checks the table.

use std::collections::BTreeSet;
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Which function a number belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Level,
    Option,
}

/// One row of the numbering.
struct Row {
    number: i32,
    name: String,
    kind: Kind,
}

/// Rounds of the declaration check before giving up (each round drops
/// every line the compiler rejected; one round normally suffices).
const CHECK_ROUNDS: usize = 4;

/// Generates `$OUT_DIR/sockopt_table.rs`.
pub fn generate(crate_dir: &Path, out_dir: &Path) {
    let tsv = crate_dir.join("data").join("sockopt_numbers.tsv");
    let headers = crate_dir.join("data").join("sockopt_headers.h");
    println!("cargo:rerun-if-changed={}", tsv.display());
    println!("cargo:rerun-if-changed={}", headers.display());
    println!("cargo:rerun-if-changed=build/sockopt.rs");
    println!("cargo:rerun-if-env-changed=CC");

    let rows = parse_numbers(&fs::read_to_string(&tsv).expect("read data/sockopt_numbers.tsv"));
    let probe = Probe::new(out_dir, headers.parent().expect("data dir"));
    let declared = probe.declared(&rows);
    let values = probe.values(&rows, &declared);
    let table = render(&rows, &values);
    fs::write(out_dir.join("sockopt_table.rs"), table).expect("write sockopt_table.rs");
}

/// Parses the tsv (header line, then `number<TAB>name<TAB>level|option`).
/// Names must be C identifiers (they are pasted into C source) and numbers
/// unique.
fn parse_numbers(text: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let bad = |what: &str| -> ! { panic!("sockopt_numbers.tsv line {}: {what}: {line:?}", i + 1) };
        let [number, name, kind] = fields[..] else { bad("expected 3 tab-separated fields") };
        let number: i32 = number.trim().parse().unwrap_or_else(|_| bad("bad number"));
        let name = name.trim();
        let identifier = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !identifier {
            bad("name is not a C identifier");
        }
        let kind = match kind.trim() {
            "level" => Kind::Level,
            "option" => Kind::Option,
            _ => bad("kind is neither level nor option"),
        };
        if !seen.insert(number) {
            bad("duplicate number");
        }
        rows.push(Row { number, name: name.to_owned(), kind });
    }
    rows
}

/// The C compiler and where its scratch files go.
struct Probe {
    cc: String,
    dir: PathBuf,
    include: PathBuf,
}

impl Probe {
    fn new(out_dir: &Path, include: &Path) -> Probe {
        let cc = env::var("CC").ok().filter(|c| !c.trim().is_empty()).unwrap_or_else(|| "cc".to_owned());
        let dir = out_dir.join("sockopt_probe");
        fs::create_dir_all(&dir).expect("create sockopt probe dir");
        Probe { cc, dir, include: include.to_owned() }
    }

    /// Runs the compiler on `source` (written to `file`) with `args`;
    /// returns (success, stderr).
    fn compile(&self, file: &str, source: &str, args: &[&str]) -> (bool, String) {
        let path = self.dir.join(file);
        fs::write(&path, source).expect("write sockopt probe source");
        let mut words = self.cc.split_whitespace();
        let program = words.next().expect("CC names a compiler");
        let output = Command::new(program)
            .args(words)
            .args(["-std=gnu11", "-D_GNU_SOURCE", "-w", "-I"])
            .arg(&self.include)
            .args(args)
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("cannot run the C compiler `{}`: {e}", self.cc));
        (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
    }

    /// Indexes (into `rows`) of the names that are integer constant
    /// expressions on this platform.
    fn declared(&self, rows: &[Row]) -> BTreeSet<usize> {
        let mut candidates: BTreeSet<usize> = (0..rows.len()).collect();
        for _ in 0..CHECK_ROUNDS {
            // Line 1 includes the headers; line k + 2 checks candidate k.
            let order: Vec<usize> = candidates.iter().copied().collect();
            let mut src = String::from("#include \"sockopt_headers.h\"\n");
            for &i in &order {
                let r = &rows[i];
                writeln!(src, "enum {{ ponynet_sockopt_{} = (int)({}) }};", r.number, r.name).expect("fmt");
            }
            let (ok, stderr) = self.compile("declared.c", &src, &["-fsyntax-only"]);
            if ok {
                return candidates;
            }
            let rejected: BTreeSet<usize> = rejected_lines(&stderr, "declared.c")
                .into_iter()
                .filter_map(|line| line.checked_sub(2).and_then(|k| order.get(k).copied()))
                .collect();
            if rejected.is_empty() {
                panic!("sockopt probe: the system headers do not compile:\n{stderr}");
            }
            candidates = candidates.difference(&rejected).copied().collect();
        }
        panic!("sockopt probe: the declaration check did not settle after {CHECK_ROUNDS} rounds");
    }

    /// `(row index, value)` of every declared name, read by running a
    /// program built against the same headers.
    fn values(&self, rows: &[Row], declared: &BTreeSet<usize>) -> Vec<(usize, i32)> {
        let host = env::var("HOST").unwrap_or_default();
        let target = env::var("TARGET").unwrap_or_default();
        if host != target {
            panic!("sockopt probe: cross-compiling ({host} -> {target}) is not supported: the probe must run");
        }
        let mut src = String::from("#include \"sockopt_headers.h\"\n#include <stdio.h>\nint main(void) {\n");
        for &i in declared {
            writeln!(src, "  printf(\"%d %d\\n\", {}, (int)({}));", i, rows[i].name).expect("fmt");
        }
        src.push_str("  return 0;\n}\n");
        let exe = self.dir.join("values");
        let exe_arg = exe.to_str().expect("OUT_DIR is UTF-8");
        let (ok, stderr) = self.compile("values.c", &src, &["-o", exe_arg]);
        if !ok {
            panic!("sockopt probe: the value program does not compile:\n{stderr}");
        }
        let output = Command::new(&exe).output().expect("run the sockopt probe");
        if !output.status.success() {
            panic!("sockopt probe exited with {}", output.status);
        }
        let text = String::from_utf8(output.stdout).expect("probe output is ASCII");
        let values: Vec<(usize, i32)> = text
            .lines()
            .map(|line| {
                let (i, v) = line.split_once(' ').expect("probe line is `index value`");
                (i.parse().expect("probe index"), v.parse().expect("probe value"))
            })
            .collect();
        assert_eq!(values.len(), declared.len(), "sockopt probe printed every declared name");
        values
    }
}

/// Line numbers of diagnostics the compiler attributes to `file` (with
/// `-w`, only errors and the notes that go with them).
fn rejected_lines(stderr: &str, file: &str) -> BTreeSet<usize> {
    let tag = format!("{file}:");
    stderr
        .lines()
        .filter_map(|l| {
            let rest = &l[l.find(&tag)? + tag.len()..];
            rest.split(':').next()?.parse().ok()
        })
        .collect()
}

/// The Rust source of the two tables.
fn render(rows: &[Row], values: &[(usize, i32)]) -> String {
    let mut out = String::from(
        "// Generated by build/sockopt.rs from data/sockopt_numbers.tsv and this\n\
         // platform's headers (data/sockopt_headers.h). Do not edit.\n",
    );
    for (kind, name, what) in [(Kind::Level, "LEVELS", "level"), (Kind::Option, "OPTIONS", "option")] {
        let mut entries: Vec<(i32, i32, &str)> = values
            .iter()
            .filter(|&&(i, _)| rows[i].kind == kind)
            .map(|&(i, v)| (rows[i].number, v, rows[i].name.as_str()))
            .collect();
        entries.sort_unstable();
        let total = rows.iter().filter(|r| r.kind == kind).count();
        writeln!(
            out,
            "\n/// The {what} numbers this platform defines ({} of {total}): (Pony number, value), sorted by number.",
            entries.len()
        )
        .expect("fmt");
        writeln!(out, "pub(super) static {name}: &[(i32, i32)] = &[").expect("fmt");
        for (number, value, cname) in entries {
            writeln!(out, "    ({number}, {value}), // {cname}").expect("fmt");
        }
        out.push_str("];\n");
    }
    out
}
