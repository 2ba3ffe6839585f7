"""VideoIngest: labelled patient videos and stills -> subject-split face-crop TFRecords."""
from components import lazy_exports

__all__ = ['VideoIngest']
__getattr__ = lazy_exports.exports(__name__, {'VideoIngest': 'component'})
