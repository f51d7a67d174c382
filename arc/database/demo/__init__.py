"""`arc-db demo` / `make demo`: a simulated evaluation on the embedded database."""
