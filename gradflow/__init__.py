"""gradflow: graduate destination registration and online signing on BPMN."""
