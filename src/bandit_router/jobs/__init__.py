"""Periodic work: refitting posteriors and keeping every process on the newest one."""
