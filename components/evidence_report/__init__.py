"""EvidenceReporter: the run's evidence (data, statistics, training, grading, gates) as
one self-contained HTML page, a pipeline artifact."""
