"""Generates the stubs from ../../proto before setuptools looks for the
package (see generate_stubs.py); everything else is in pyproject.toml."""

import os
import sys

from setuptools import setup

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import generate_stubs  # noqa: E402

if generate_stubs.stale():
    generate_stubs.generate()

setup()
