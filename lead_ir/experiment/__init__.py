"""Whole studies from one YAML: the typed config, the stage runner with cached/resumable stages, the study."""
