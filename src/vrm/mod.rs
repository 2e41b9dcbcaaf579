//! VRM runtime: loading VRM 0.x and 1.0 avatars (placeholder, replaced by the loader).
