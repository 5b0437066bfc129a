#!/usr/bin/env -S uvlaunch
# /// script
# requires-python = ">=3.10"
# dependencies = []
# ///
"""Greets whoever is named: `uvlaunch install greet.py` makes it the command `greet`."""

import sys

print(f"hello, {' '.join(sys.argv[1:]) or 'world'}")
