"""Built-in Prism placement programs, as candidate programs (plain source files)."""
