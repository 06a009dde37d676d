//! Secrets in the OS keyring (being built).
