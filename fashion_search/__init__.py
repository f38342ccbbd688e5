"""Fashion text-to-image search: catalog -> captions -> model -> vectors -> store -> search -> page."""

__version__ = "0.1.0"
