"""The table as given: every row in table order, every field in column order. The floor
any reordering should beat (the reference evaluator's "original" baseline)."""


# EVOLVE-BLOCK-START
def reorder(table):
    return table.rows


# EVOLVE-BLOCK-END
