//! Random number generation (filled in below).
