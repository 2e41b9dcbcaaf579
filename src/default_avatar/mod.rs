//! The built-in default avatar (placeholder, replaced by the generator).
