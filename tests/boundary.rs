//! Every exported function runs inside the panic boundary, and only
//! `src/ffi/` exports functions (rustls-ffi's open issue #27, checked here).

use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    files.into_iter().map(|p| { let s = fs::read_to_string(&p).expect("read"); (p, s) }).collect()
}

/// (function name, body) of each `#[no_mangle]` function in `src`.
fn exported_functions(src: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for chunk in src.split("#[no_mangle]").skip(1) {
        let Some(fn_pos) = chunk.find("fn ") else { continue };
        let name: String = chunk[fn_pos + 3..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        let Some(open) = chunk.find('{') else { continue };
        let mut depth = 0usize;
        let mut end = chunk.len();
        for (i, c) in chunk[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        found.push((name, chunk[open..end].to_string()));
    }
    found
}

#[test]
fn every_exported_function_runs_inside_the_boundary() {
    let mut unguarded = Vec::new();
    let mut count = 0;
    for (path, src) in sources() {
        for (name, body) in exported_functions(&src) {
            count += 1;
            // The first statement, past `// SAFETY:` comment lines.
            let body: String = body
                .trim_start_matches('{')
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            let guarded = body.starts_with("call(")
                || body.starts_with("boundary::call(")
                || body.starts_with("boundary::partial(")
                || body.starts_with("partial(");
            if !guarded {
                unguarded.push(format!("{} in {}", name, path.display()));
            }
        }
    }
    assert!(count >= 20, "found only {count} exported functions: is the scan broken?");
    assert!(unguarded.is_empty(), "exported functions outside the panic boundary: {unguarded:#?}");
}

#[test]
fn only_src_ffi_exports_functions() {
    let ffi = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join("ffi");
    let strays: Vec<_> = sources()
        .into_iter()
        .filter(|(p, s)| !p.starts_with(&ffi) && s.contains("#[no_mangle]"))
        .map(|(p, _)| p)
        .collect();
    assert!(strays.is_empty(), "#[no_mangle] outside src/ffi: {strays:?}");
}
