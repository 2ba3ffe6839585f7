"""The model card: written after the Evaluator, pushed with the model into its
``assets.extra/``."""
