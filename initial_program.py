def value(:
