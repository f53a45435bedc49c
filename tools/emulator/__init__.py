"""Local emulator: moto server for AWS, an HTTP API emulator that invokes handlers in-process."""
