"""sparkctl: recipes, inventory and templates in; per-node docker commands over SSH out."""

__version__ = "0.1.0"
