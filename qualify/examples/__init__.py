"""Example inputs and an offline example qualifier, for a first run without network."""
