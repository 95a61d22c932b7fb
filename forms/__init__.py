"""WTForms classes, one module per domain area; registry maps BPMN form keys to classes."""
