"""Running BPMN with SpiffWorkflow: specs, instances, steps, inbox, timers, outbox.

Knows nothing of Flask. Everything here takes an SQLAlchemy session.
"""
