//! The SQLite state store: events and the tables derived from them.
