"""Claims: the registry, verdict rules, findings text and the analyze stage that applies them."""
