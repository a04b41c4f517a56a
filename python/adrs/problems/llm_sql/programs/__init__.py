"""Built-in llm-sql programs (plain source files): the baselines and the initial program."""
