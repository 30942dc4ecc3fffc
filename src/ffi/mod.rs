//! The C ABI: every `#[no_mangle]` function of the library lives in this
//! module, each a few lines: convert the pointers ([`boundary`]), call safe
//! Rust, convert the result. Every one runs inside the panic boundary.

// The C contract of each exported function is its doc comment (the header);
// callers are C programs, for whom a Rust `# Safety` section says nothing new.
#![allow(clippy::missing_safety_doc)]

pub mod addr;
pub mod boundary;
pub mod event;
pub mod io;
pub mod lifecycle;
pub mod pony_hooks;
pub mod sockopt;
pub mod tcp;
pub mod types;
pub mod udp;
