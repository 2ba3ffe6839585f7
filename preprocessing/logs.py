"""How much the libraries under palsy-tfx may print: quiet unless asked.

TensorFlow, absl, Beam, TFX, TFMA, ml-metadata and the Google API client print
warnings and INFO lines by the hundred, which bury the pipeline's own few lines (and
any real problem). ``palsy-tfx --verbose`` lets them through. The choice travels in
an environment variable because Beam workers are separate processes: they inherit
the environment, not the command line. Nothing here imports TensorFlow, so the
command line can call it before TensorFlow loads.
"""
import logging
import os
import warnings

VERBOSE_ENV = 'PALSY_TFX_VERBOSE'
# Python loggers of the libraries; TFX, TFMA and ml-metadata log through absl.
_LOGGERS = ('tensorflow', 'absl', 'apache_beam', 'tfx', 'tensorflow_model_analysis',
            'tensorflow_data_validation', 'tfx_bsl', 'ml_metadata', 'google', 'keras')
# Inherited by every Python child (Beam workers), which warn as they import.
_WARNING_FILTERS = ('ignore::FutureWarning,ignore::DeprecationWarning,'
                    'ignore::PendingDeprecationWarning')
_LIBRARIES = r'(%s)(\.|$)' % '|'.join(_LOGGERS)


def verbose() -> bool:
  """True when the user asked to see every library's output (``--verbose``)."""
  return os.environ.get(VERBOSE_ENV, '') not in ('', '0')


def set_verbose(on: bool) -> None:
  """Record the choice where this process and its children read it."""
  os.environ[VERBOSE_ENV] = '1' if on else '0'


def configure_libraries() -> None:
  """Quiet the libraries' warnings and INFO logs, or with ``verbose()`` show them.

  Call it before TensorFlow is imported (the C++ log level is read once, at load) and
  again at a Beam worker's DoFn setup; it costs a few dictionary writes.
  """
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
  if verbose():
    absl_logging.set_verbosity(absl_logging.INFO)  # TFX's progress lines
    return
  os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'  # C++: errors too (CUDA plugin noise)
  os.environ['PYTHONWARNINGS'] = _WARNING_FILTERS
  absl_logging.set_verbosity(absl_logging.ERROR)
  for name in _LOGGERS:
    logging.getLogger(name).setLevel(logging.ERROR)
  for category in (FutureWarning, DeprecationWarning, PendingDeprecationWarning):
    warnings.filterwarnings('ignore', category=category)
  warnings.filterwarnings('ignore', module=_LIBRARIES)
  # Keras 3 says this at the end of every pass over a dataset of unknown length, which
  # ours are (TFRecords); it is raised from contextlib, so the module filter misses it.
  warnings.filterwarnings('ignore', message='Your input ran out of data')
