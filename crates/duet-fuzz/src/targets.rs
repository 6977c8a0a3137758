//! The fuzz targets, by the input they take: files (backlog, config), the control socket
//! (frames, request sequences into a controller), and what agents send (tool arguments, hooks).

pub mod agents;
pub mod files;
pub mod proto;
