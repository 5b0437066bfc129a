#!/usr/bin/env -S uvlaunch
# /// script
# requires-python = ">=3.10"
# dependencies = []
# ///
"""A first uvlaunch script: prints where it runs from."""

import os
import sys

print(f"hello from {sys.executable}")
print(f"environment: {os.environ.get('VIRTUAL_ENV')}")
