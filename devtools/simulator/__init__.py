"""A SuperOffice simulator: the REST calls consent-sync makes, seeded data, auth schemes and faults.

Run it with `devtools.simulator.server.serve()` (the CLI's `consent-sync simulator`), or inside a
test with `devtools.simulator.testing.running_simulator()`.
"""
