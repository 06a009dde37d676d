//! Attachments cached on disk, sealed (being built).
