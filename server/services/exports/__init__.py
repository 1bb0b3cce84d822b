"""Exports for the department's own reports; the module moved to exports/visits.py and is split next."""

from server.services.exports.visits import *  # noqa: F403 - every public name, until the split
