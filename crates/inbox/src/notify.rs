//! Desktop notifications (being built).
