"""Programs sparkctl runs on nodes with `python3 -c` (stdlib only); read as text, never imported."""
