"""Output: atomic result writers (MOT text, JSON lines) and annotated video."""
