//! The committed `include/ponynet.h` is what build.rs generates, it
//! documents every item, and it compiles alone as C11 and as C++.

use std::path::Path;
use std::process::Command;

const GENERATED: &str = include_str!(concat!(env!("OUT_DIR"), "/ponynet.h"));

fn committed_header() -> String {
    let root = env!("CARGO_MANIFEST_DIR");
    // The index holds what will be committed; fall back to the file outside git.
    let staged = Command::new("git")
        .args(["-C", root, "show", ":include/ponynet.h"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    staged.unwrap_or_else(|| {
        std::fs::read_to_string(Path::new(root).join("include/ponynet.h")).expect("include/ponynet.h")
    })
}

#[test]
fn committed_header_is_the_generated_one() {
    assert!(
        committed_header() == GENERATED,
        "include/ponynet.h differs from what build.rs generates: commit the regenerated header"
    );
}

#[test]
fn every_declaration_has_a_doc_comment() {
    let lines: Vec<&str> = GENERATED.lines().collect();
    let mut undocumented = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let is_item = (line.starts_with("#define ") && !line.contains("PONYNET_H"))
            || line.starts_with("typedef ")
            || (line.ends_with(");") && !line.starts_with(' ') && !line.starts_with('}'));
        if !is_item {
            continue;
        }
        let previous = lines[..i].iter().rev().find(|l| !l.trim().is_empty()).copied().unwrap_or("");
        let documented = previous.starts_with("//") || previous.ends_with("*/");
        if !documented {
            undocumented.push(*line);
        }
    }
    assert!(undocumented.is_empty(), "items without a doc comment: {undocumented:#?}");
}

/// Only the C API reaches the header: a Rust constant or type of the crate's
/// own (the executor's, the net API's) must not leak into it.
#[test]
fn header_declares_only_the_c_api() {
    const PREFIXES: &[&str] = &["ASIO_", "PONYNET_", "pony_", "ponynet_", "ponyint_", "asio_event_t", "ipaddress_t"];
    let mut strays = Vec::new();
    for line in GENERATED.lines() {
        let name = if let Some(rest) = line.strip_prefix("#define ") {
            rest.split_whitespace().next()
        } else if let Some(rest) = line.strip_prefix("typedef ").and_then(|l| l.split_once("(*")) {
            // A function-pointer typedef: `typedef R (*name)(...)`.
            rest.1.split(')').next()
        } else if line.starts_with("typedef ") || (line.ends_with(");") && !line.starts_with(' ')) {
            // The declared name: the identifier before the first '(' or the last ';'.
            let head = line.split('(').next().unwrap_or(line);
            let head = if line.starts_with("typedef ") { line.trim_end_matches(';') } else { head };
            head.rsplit(|c: char| !(c.is_alphanumeric() || c == '_')).find(|w| !w.is_empty())
        } else {
            None
        };
        if let Some(name) = name {
            if name != "PONYNET_H" && !PREFIXES.iter().any(|p| name.starts_with(p)) {
                strays.push(line.to_string());
            }
        }
    }
    assert!(strays.is_empty(), "header items outside the C API: {strays:#?}");
}

#[test]
fn header_has_guard_cpp_linkage_and_aliases() {
    for needle in [
        "#ifndef PONYNET_H",
        "extern \"C\" {",
        "typedef struct pony_asio_event_t asio_event_t;",
        "typedef struct pony_ipaddress_t ipaddress_t;",
        "typedef void (*ponynet_notify_fn)(",
        "#define ASIO_ONESHOT 256",
    ] {
        assert!(GENERATED.contains(needle), "header lacks {needle:?}");
    }
}

fn compiles_alone(compiler: &str, args: &[&str]) {
    let dir = std::env::temp_dir().join(format!("ponynet-header-{}-{compiler}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let src = dir.join("only_header.c");
    std::fs::write(&src, "#include \"ponynet.h\"\nint main(void) { return ASIO_READ - 1; }\n").expect("write");
    let include = Path::new(env!("OUT_DIR"));
    let out = Command::new(compiler)
        .args(args)
        .arg("-I")
        .arg(include)
        .arg("-c")
        .arg(&src)
        .arg("-o")
        .arg(dir.join("only_header.o"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {compiler}: {e}"));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{compiler} rejects the header:\n{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn header_compiles_alone_as_c11() {
    compiles_alone("cc", &["-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror"]);
}

#[test]
fn header_compiles_alone_as_cpp() {
    compiles_alone("c++", &["-x", "c++", "-std=c++17", "-Wall", "-Wextra", "-Werror"]);
}
