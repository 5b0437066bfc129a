#!/usr/bin/env -S uvlaunch
# /// script
# requires-python = ">=3.10"
# dependencies = ["rich"]
# ///
"""A first uvlaunch script: rich comes from the script's own, stable environment."""

import os
import sys

from rich import print

print(f"[bold green]hello[/] from {sys.executable}")
print(f"environment: [cyan]{os.environ.get('VIRTUAL_ENV')}[/]")
