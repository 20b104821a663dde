//! The test rig's fault proxy is the core's (`tether::faultproxy`), the same one the demo's fault
//! switch uses.

pub use tether::faultproxy::{FaultProxy, Mode};
