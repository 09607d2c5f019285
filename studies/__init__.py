"""Scripts that reproduce the comparison tables reported in the issues' closing notes."""
