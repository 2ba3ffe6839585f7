"""The model card: written after the Evaluator (ModelCardWriter), pushed with the model
into its ``assets.extra/`` (CardPusher)."""
from components import lazy_exports

__all__ = ['CardPusher', 'ModelCardWriter']
__getattr__ = lazy_exports.exports(__name__, {'CardPusher': 'pusher',
                                              'ModelCardWriter': 'component'})
