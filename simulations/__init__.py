"""Offline simulations: replay real or synthetic routing traffic through the service's own
policies and features, and compare them (see ``simulations/README.md``)."""
