"""Placeholder: replaced by the eval command implementation."""


def evaluate() -> None:
    raise NotImplementedError
