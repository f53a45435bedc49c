"""Service logic: one module per endpoint group; handlers call exactly one function here."""
