"""Image decoding and normalisation shared, function for function, by the Trainer's
input pipeline and the exported serving signatures, so there is no training/serving skew.
"""
import tensorflow as tf

# Per-channel means in BGR order that each backbone's weights were trained with.
_VGGFACE_MEAN_BGR = (93.5940, 104.7624, 129.1863)   # VGGFace v1 (vgg16)
_VGGFACE2_MEAN_BGR = (91.4953, 103.8827, 131.0912)  # VGGFace2 (resnet50, senet50)
_IMAGENET_MEAN_BGR = (103.939, 116.779, 123.68)     # keras.applications caffe mode
# dlib's input_rgb_image: (RGB - mean) / 256, in RGB order (dlib dnn/input.h).
DLIB_MEAN_RGB = (122.782, 117.001, 104.298)
DLIB_SCALE = 256.0
NORMALISATIONS = ('vggface', 'vggface2', 'imagenet', 'paper', 'standardize', 'dlib')


def decode_resize(image_bytes: tf.Tensor, size: int) -> tf.Tensor:
  """JPEG/PNG bytes (scalar) -> float32 [size, size, 3] in 0..255.

  A crop already at ``size`` (ingest at the model's size) skips the resize, which is
  the identity there anyway and otherwise costs about as much as the JPEG decode.
  """
  image = tf.cast(tf.io.decode_image(image_bytes, channels=3, expand_animations=False),
                  tf.float32)
  height_width = tf.shape(image)[:2]
  image = tf.cond(tf.reduce_all(tf.equal(height_width, size)), lambda: image,
                  lambda: tf.image.resize(image, (size, size), antialias=True))
  return tf.ensure_shape(image, (size, size, 3))


def normalise(images: tf.Tensor, mode: str) -> tf.Tensor:
  """Scale RGB 0..255 images the way the backbone expects.

  'paper' is FP-VGGFace's /255; 'vggface', 'vggface2' and 'imagenet' subtract the
  training means in BGR order (what VGGFace and keras.applications' VGG16/ResNet50
  'caffe' mode do). 'standardize' scales each image's channels to zero mean and unit
  variance: it removes an image's overall brightness and colour cast (lighting, white
  balance, skin tone), which a model trained from scratch on few subjects otherwise
  learns as the identity of each subject instead of the grade. 'dlib' is what dlib's
  face-recognition ResNet was trained with: RGB order, its means, divided by 256.
  """
  if mode == 'paper':
    return images / 255.0
  if mode == 'dlib':
    return (images - tf.constant(DLIB_MEAN_RGB, tf.float32)) / DLIB_SCALE
  if mode == 'standardize':
    mean, variance = tf.nn.moments(images, axes=[-3, -2], keepdims=True)
    return (images - mean) / tf.sqrt(variance + 1.0)
  mean = {'vggface': _VGGFACE_MEAN_BGR, 'vggface2': _VGGFACE2_MEAN_BGR,
          'imagenet': _IMAGENET_MEAN_BGR}.get(mode)
  if mean is None:
    raise ValueError(f'unknown normalisation {mode!r}; expected one of {NORMALISATIONS}')
  return images[..., ::-1] - tf.constant(mean, tf.float32)


def preprocess_bytes(image_bytes: tf.Tensor, size: int, mode: str) -> tf.Tensor:
  """A batch of encoded images -> the model's input tensor (the serving path)."""
  images = tf.map_fn(lambda b: decode_resize(b, size), image_bytes,
                     fn_output_signature=tf.TensorSpec((size, size, 3), tf.float32))
  return normalise(images, mode)
