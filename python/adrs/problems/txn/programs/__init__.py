"""Built-in transaction-scheduling programs, as candidate programs (plain source files)."""
