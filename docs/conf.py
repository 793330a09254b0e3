"""Sphinx configuration for the autopay_soap docs."""

project = "autopay_soap"
author = "autopay_soap contributors"
copyright = "2026, autopay_soap contributors"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.viewcode"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
exclude_patterns = ["_build"]
html_theme = "alabaster"
nitpicky = False
