"""One module per analysis of the claims; each returns tidy tables and its claim's evidence."""
