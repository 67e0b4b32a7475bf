"""See docs/RBC_BENCH.md."""
