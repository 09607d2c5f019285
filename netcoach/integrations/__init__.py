"""Optional integrations with outside tools (MLflow). Each imports its package only when
enabled, and a missing package is a clear error before any run folder exists."""
