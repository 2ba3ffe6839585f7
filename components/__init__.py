"""Custom TFX components of palsy-tfx."""
