"""Read a dlib DNN file (``.dat``) in pure Python: the layers, in order, with their weights.

dlib's Python wheel can run a network but cannot hand out its weights, and building the
C++ tools to convert them is a step an air-gapped clinical site cannot take. The format is
small enough to read here (dlib ``serialize.h``, ``cuda/tensor.h``, ``dnn/core.h``,
``dnn/layers.h`` and ``dnn/input.h``):

* an integer is a control byte (low 4 bits: how many bytes follow; bit 7: negative) and
  then its magnitude, little-endian;
* a float is two integers, mantissa and exponent: ``mantissa * 2**exponent``;
* a string is its length and its bytes; a bool is the ASCII byte '1' or '0';
* a tensor is version 2, ``num_samples, k, nr, nc`` and its float32 data, little-endian;
  an alias tensor (a view into a layer's ``params``) is version 1 and the four sizes.

A network is its loss layer and then its layers nested from the output inwards: each
wrapper writes its version, then its sub-network, then its own details. So the file opens
with one version number per wrapper and the input layer, and the layers' details follow
from the input to the output. Tags and skips (version 1) write no details, and which of
them a version 1 is lives only in the C++ type: the caller knows the topology.
"""
import dataclasses
from typing import Any, Callable, Dict, List, Tuple

import numpy as np


class DatFormatError(ValueError):
  """Bytes that are not the dlib serialization this reader knows."""


@dataclasses.dataclass
class Layer:
  """One layer's details: ``kind`` is dlib's name without its version suffix ('con',
  'affine', 'fc', 'relu', 'add_prev', 'avg_pool', 'max_pool', 'input_rgb_image_sized')."""
  kind: str
  version: str
  params: Dict[str, Any]


@dataclasses.dataclass
class Network:
  loss: str
  layers: List[Layer]  # from the input to the output; tags and skips left out


class Reader:
  """dlib's primitive encodings over a byte string."""

  def __init__(self, data: bytes):
    self.data = memoryview(data)
    self.pos = 0

  def _take(self, n: int) -> memoryview:
    if self.pos + n > len(self.data):
      raise DatFormatError(f'unexpected end of data at byte {self.pos} (wanted {n} more)')
    chunk = self.data[self.pos:self.pos + n]
    self.pos += n
    return chunk

  def int(self) -> int:
    control = self._take(1)[0]
    size = control & 0x0F
    if size == 0 or size > 8 or control & 0x70:
      raise DatFormatError(f'bad integer control byte 0x{control:02x} at byte {self.pos - 1}')
    value = int.from_bytes(self._take(size), 'little')
    return -value if control & 0x80 else value

  def peek_int(self) -> int:
    pos = self.pos
    try:
      return self.int()
    finally:
      self.pos = pos

  def float(self) -> float:
    mantissa = self.int()
    return float(mantissa * 2.0 ** self.int())

  def bool(self) -> bool:
    byte = bytes(self._take(1))
    if byte not in (b'0', b'1'):
      raise DatFormatError(f'bad bool {byte!r} at byte {self.pos - 1}')
    return byte == b'1'

  def string(self) -> str:
    return bytes(self._take(self.int())).decode('ascii')

  def _sizes(self, version: int, what: str) -> Tuple[int, int, int, int]:
    found = self.int()
    if found != version:
      raise DatFormatError(f'{what} version {found} at byte {self.pos}, expected {version}')
    return tuple(self.int() for _ in range(4))

  def tensor(self) -> np.ndarray:
    """float32 array of shape (num_samples, k, nr, nc)."""
    shape = self._sizes(2, 'tensor')
    count = int(np.prod(shape))
    data = np.frombuffer(self._take(4 * count), dtype='<f4', count=count)
    return data.astype(np.float32).reshape(shape)

  def alias(self) -> Tuple[int, int, int, int]:
    return self._sizes(1, 'alias tensor')


def _split(params: np.ndarray, *shapes: Tuple[int, ...]) -> List[np.ndarray]:
  """Cut a layer's flat ``params`` into the arrays its alias tensors view."""
  flat, out, start = params.reshape(-1), [], 0
  for shape in shapes:
    size = int(np.prod(shape))
    out.append(flat[start:start + size].reshape(shape))
    start += size
  if start != flat.size:
    raise DatFormatError(f'params hold {flat.size} values, the aliases {start}')
  return out


def _con(r: Reader, version: str) -> Dict[str, Any]:
  params = r.tensor()
  num_filters = r.int()
  nr, nc, stride_y, stride_x, padding_y, padding_x = (r.int() for _ in range(6))
  filters, biases = r.alias(), r.alias()
  for _ in range(4):  # learning-rate and weight-decay multipliers
    r.float()
  use_bias = r.bool() if version in ('con_5', 'con_6') else True
  if version == 'con_6' and r.bool():
    raise DatFormatError('a convolution with a fused relu (dlib fuse_layers) is not supported')
  if use_bias:
    filters_value, biases_value = _split(params, filters, (int(np.prod(biases)),))
  else:
    (filters_value,), biases_value = _split(params, filters), None
  return {'filters': filters_value, 'biases': biases_value, 'num_filters': num_filters,
          'size': (nr, nc), 'strides': (stride_y, stride_x), 'padding': (padding_y, padding_x)}


def _affine(r: Reader, version: str) -> Dict[str, Any]:
  params = r.tensor()
  gamma, beta = r.alias(), r.alias()
  mode = r.int()
  if version == 'affine_2' and r.bool():
    raise DatFormatError('a disabled affine layer (dlib fuse_layers) is not supported')
  gamma_value, beta_value = _split(params, gamma, beta)
  return {'gamma': gamma_value.reshape(-1), 'beta': beta_value.reshape(-1),
          'mode': ('conv', 'fc')[mode]}


def _fc(r: Reader, version: str) -> Dict[str, Any]:
  num_outputs, num_inputs = r.int(), r.int()
  params = r.tensor()
  weights = r.alias()
  r.alias()  # biases
  has_bias = r.int() == 0  # fc_bias_mode: FC_HAS_BIAS = 0, FC_NO_BIAS = 1
  for _ in range(4):
    r.float()
  if version == 'fc_3':
    has_bias = r.bool() and has_bias
  kernel = (num_inputs, num_outputs)
  if weights[:2] != kernel:
    raise DatFormatError(f'fc weights alias {weights}, expected {kernel}')
  arrays = _split(params, kernel, (num_outputs,)) if has_bias else _split(params, kernel)
  return {'kernel': arrays[0], 'bias': arrays[1] if has_bias else None}


def _pool(r: Reader, version: str) -> Dict[str, Any]:
  nr, nc, stride_y, stride_x, padding_y, padding_x = (r.int() for _ in range(6))
  return {'size': (nr, nc), 'strides': (stride_y, stride_x),
          'padding': (padding_y, padding_x)}


def _relu(r: Reader, version: str) -> Dict[str, Any]:
  if version == 'relu_2' and r.bool():
    raise DatFormatError('a disabled relu layer (dlib fuse_layers) is not supported')
  return {}


def _no_details(r: Reader, version: str) -> Dict[str, Any]:
  return {}


def _input_rgb_image_sized(r: Reader, version: str) -> Dict[str, Any]:
  mean = tuple(r.float() for _ in range(3))
  return {'mean_rgb': mean, 'size': (r.int(), r.int())}


# Layer version strings this reader knows -> (kind, details reader).
_LAYERS: Dict[str, Tuple[str, Callable[[Reader, str], Dict[str, Any]]]] = {
    **{v: ('con', _con) for v in ('con_4', 'con_5', 'con_6')},
    **{v: ('affine', _affine) for v in ('affine_', 'affine_2')},
    **{v: ('fc', _fc) for v in ('fc_2', 'fc_3')},
    **{v: ('relu', _relu) for v in ('relu_', 'relu_2')},
    'add_prev_': ('add_prev', _no_details),
    'avg_pool_2': ('avg_pool', _pool),
    'max_pool_2': ('max_pool', _pool),
    'input_rgb_image_sized': ('input_rgb_image_sized', _input_rgb_image_sized),
}


def _layer(r: Reader) -> Layer:
  at = r.pos
  version = r.string()
  if version not in _LAYERS:
    raise DatFormatError(f'unknown layer {version!r} at byte {at}')
  kind, read = _LAYERS[version]
  return Layer(kind, version, read(r, version))


def _skip_state(r: Reader, tensors: int) -> None:
  """An add_layer's training state after its details: three flags and cached tensors."""
  for _ in range(3):
    r.bool()
  for _ in range(tensors):
    r.tensor()


def read_network(data: bytes) -> Network:
  """Parse a whole network file (a loss layer over nested layers) into ``Network``."""
  r = Reader(data)
  if r.int() != 1:
    raise DatFormatError('not a dlib network: expected add_loss_layer version 1')
  loss = r.string()
  if loss == 'loss_metric_2':
    r.float(), r.float()  # margin, distance threshold
  elif loss != 'loss_metric_':
    raise DatFormatError(f'unknown loss layer {loss!r}')
  wrappers = []
  # A wrapper's sub-network starts with a version (1, 2 or 3); the input layer starts with
  # its name's length, which is longer than that.
  while True:
    wrappers.append(r.int())
    if r.peek_int() > 3:
      break
  # The innermost add_layer holds the input layer itself, then its own layer's details.
  input_version = wrappers.pop()
  if input_version not in (2, 3):
    raise DatFormatError(f'input add_layer version {input_version}, expected 2 or 3')
  layers = [_layer(r), _layer(r)]
  _skip_state(r, tensors=3)  # x_grad, cached_output, grad_final
  if input_version == 3:
    r.int()  # sample expansion factor
  for version in reversed(wrappers):
    if version == 2:  # add_layer: details, then x_grad, cached_output, params_grad
      layers.append(_layer(r))
      _skip_state(r, tensors=3)
    elif version != 1:  # 1: a tag or a skip, which write nothing more
      raise DatFormatError(f'wrapper version {version} at byte {r.pos}, expected 1 or 2')
  if r.pos != len(r.data):
    raise DatFormatError(f'{len(r.data) - r.pos} bytes left after the network')
  return Network(loss, layers)


def read_file(path: str) -> Network:
  with open(path, 'rb') as f:
    return read_network(f.read())
