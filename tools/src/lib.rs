//! The tools around the obs-vrm-avatar plugin: the `vrm-avatar` command line (render, track,
//! bench, demo, soak, IVS setup) and the launcher that runs real OBS for the demo, the
//! benchmarks and the end-to-end tests. Nothing here ships inside OBS.

pub mod cli;
pub mod launcher;
