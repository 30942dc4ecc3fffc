//! The C ABI: every `#[no_mangle]` function of the library lives in this
//! module, each a few lines: convert the pointers ([`boundary`]), call safe
//! Rust, convert the result. Every one runs inside the panic boundary.

pub mod boundary;
pub mod event;
pub mod lifecycle;
pub mod types;
