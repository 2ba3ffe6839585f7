"""The ServingCheck: the infra check between the Evaluator and the Pusher, which loads
the candidate in a fresh process as TF Serving does and emits TFX's InfraBlessing."""
from components import lazy_exports

__all__ = ['ServingCheck']
__getattr__ = lazy_exports.exports(__name__, {'ServingCheck': 'component'})
