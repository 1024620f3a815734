//! The taskwire record stream: schema and serial-safe framing.
