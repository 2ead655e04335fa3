"""Benchmarks that print figures (DESIGN.md §5). Run from the repository root:

    python -m bench.send_bench --n 20000 --workers 2
    python -m bench.pixel_bench --seconds 10 --connections 32

Each one sets up its own PostgreSQL database (or SQLite file) and Redis db number, and
removes them when it ends.
"""
