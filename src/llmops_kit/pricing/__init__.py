"""Model prices (packaged table + overrides) and offline token counting."""
