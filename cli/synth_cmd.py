"""Placeholder: replaced by the synth command implementation."""


def synth() -> None:
    raise NotImplementedError
