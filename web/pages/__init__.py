"""The web app's pages, one module per part of the work."""
