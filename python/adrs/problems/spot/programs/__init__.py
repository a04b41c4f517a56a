"""Built-in spot-scheduling policies, as candidate programs (plain source files)."""
