"""Data: the catalog of CDC files, fetching and verifying them, reading them (XPT, fixed width)."""
