//! Test support: scripted fake model servers, agent environments, temporary repositories.
