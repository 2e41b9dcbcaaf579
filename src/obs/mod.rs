//! The only code that touches libobs: bindings, module exports, the source, the IVS Stage Setup
//! (Tools menu, obs-frontend-api), logging and the panic guard. A thin safe layer over the
//! core; callbacks only swap settings or read the latest frame.

mod calldata;
mod capture;
pub mod ffi;
mod frontend;
mod guard;
mod hotkeys;
mod ivs_setup;
mod logger;
mod module;
mod readiness;
mod source;
mod speech;
mod tap;
mod text;
mod tracking_input;
mod vendor;
mod vendor_events;
mod voice_input;

pub use guard::guard;
