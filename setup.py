"""palsy-tfx: a TFX pipeline that grades facial paralysis from patient videos.

Dependencies are pinned in requirements.lock and installed from it (docs/development.md);
install_requires lists only the direct ones, unpinned where the lock decides.
"""
from setuptools import find_packages, setup

setup(
    name='palsy-tfx',
    version='0.1.0',
    description='Facial paralysis grading from patient videos: a TFX pipeline',
    python_requires='>=3.10,<3.11',
    # kubeflow/ is deliberately not a package: a top-level `kubeflow` would shadow
    # the `kubeflow` namespace other distributions install.
    packages=find_packages(include=['pipeline*', 'components*', 'preprocessing*', 'trainer*']),
    # The curated schema, read where the code is installed (components/curated_schema.py),
    # and the drift config's defaults (pipeline/monitor/config.py).
    package_data={'pipeline': ['schema/*.pbtxt', 'monitor/*.pbtxt']},
    install_requires=['tfx==1.16.0', 'tensorflow==2.16.2', 'keras==3.6.0', 'keras-tuner',
                      'apache-beam[gcp,aws]==2.59.0', 'dlib-bin', 'av', 'opencv-python-headless',
                      'scikit-image', 'scipy', 'tensorflow-serving-api', 'grpcio', 'kfp==2.5.0'],
    entry_points={'console_scripts': ['palsy-tfx=pipeline.cli.main:main']},
)
