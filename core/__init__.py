"""The bottom layer: settings, database base and session factory, errors. Imports nothing of ours."""
