"""uvlaunch: run PEP 723 scripts in stable environments outside uv's cache."""

# Kept literal (not importlib.metadata) because this module is imported on every launch.
__version__ = "0.1.0"
