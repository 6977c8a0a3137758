//! Tests of hook payload parsing.
