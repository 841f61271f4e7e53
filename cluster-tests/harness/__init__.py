"""Python helpers shared by the pytest suites under cluster-tests/ (interop, cluster) and the scripts that reuse
their conftests. Each conftest puts cluster-tests/ on sys.path and imports `harness.procs`."""
