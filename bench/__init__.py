"""On-demand performance benchmarks (never run by the test suite): see bench/README.md."""
