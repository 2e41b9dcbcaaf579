//! The only code that touches libobs: bindings, module exports, the source, logging and the
//! panic guard. A thin safe layer over the core; callbacks only swap settings or read the
//! latest frame.

pub mod ffi;
mod guard;
mod logger;
mod module;
mod source;
mod text;
mod tracking_input;

pub use guard::guard;
