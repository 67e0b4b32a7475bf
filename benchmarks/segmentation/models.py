"""Work in progress (see docs/RBC_BENCH.md)."""
