"""Platform-engineer tooling: offline plan, config docs, key rotation, cost, diff."""
