"""EvidenceReporter: the run's evidence (data, statistics, training, grading, gates) as
one self-contained HTML page, a pipeline artifact."""
from components import lazy_exports

__all__ = ['EvidenceReporter']
__getattr__ = lazy_exports.exports(__name__, {'EvidenceReporter': 'component'})
