"""The ``aetrack`` command line (typer). Thin: each command parses options and calls aetrack."""
