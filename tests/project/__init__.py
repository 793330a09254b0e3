"""The project's own shape: the layers, the suite, the package, the public API, the README."""
