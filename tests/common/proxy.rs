//! The test rig's fault proxy is the core's (`tether::demo::proxy`), the same one the demo's fault
//! switch uses.

pub use tether::demo::proxy::{FaultProxy, Mode};
