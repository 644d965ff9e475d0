"""SpiffWorkflow runtime: specs per process-model version, state without the spec."""
