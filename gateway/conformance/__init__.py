"""Conformance runs: replay suites of requests (conformance/) and compare what comes back."""
