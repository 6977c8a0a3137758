//! Tests of the adapter (argv / env vectors).
