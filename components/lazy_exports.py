"""Public names of a component package, imported when first used.

``from components.video_ingest import VideoIngest`` should work, but importing the
package for one of its light modules (``components.video_ingest.splits``, which the
command line reads while building its parser) must not load TFX, Beam and TensorFlow
with the component class. A package's ``__getattr__`` (PEP 562) made here imports the
module that defines a public name only when that name is asked for.
"""
import importlib
from typing import Callable, Mapping


def exports(package: str, names: Mapping[str, str]) -> Callable[[str], object]:
  """A module ``__getattr__`` for ``package``: public name -> the submodule defining it."""

  def __getattr__(name: str) -> object:  # pylint: disable=invalid-name
    if name not in names:
      raise AttributeError(f'module {package!r} has no attribute {name!r}')
    return getattr(importlib.import_module(f'{package}.{names[name]}'), name)

  return __getattr__
