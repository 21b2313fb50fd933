"""The test suite, a package so that tests/hubspot never shadows the `hubspot` SDK."""
