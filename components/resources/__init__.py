"""Self-service resources a tenant asks for in its file: one component per type."""
