"""Upload a compiled package to a Kubeflow Pipelines server and start a run, with
``kfp.Client`` (KFP API v2beta1).

The package becomes a version of the pipeline named ``pipeline_name`` (the pipeline is
created on first upload), so every submitted run names the exact package it ran.
"""
import datetime
import json
import os
from typing import Optional

import kfp
import kfp_server_api
import urllib3

from pipeline import configs

DEFAULT_EXPERIMENT = configs.PIPELINE_NAME


class SubmitError(RuntimeError):
  """The server could not be reached, or refused a request; the message says which."""


def _server_message(body) -> str:
  """The message of an error answer (``{"error", "code", "message"}``), or its text."""
  text = (body.decode('utf-8', 'replace') if isinstance(body, bytes) else body or '').strip()
  try:
    return json.loads(text)['message']
  except (ValueError, KeyError, TypeError):
    return text[:500]


def _upload(client: kfp.Client, package: str, pipeline_name: str, version_name: str):
  """(pipeline id, version id) of the package, uploaded as a new pipeline or as a new
  version of the existing one."""
  pipeline_id = client.get_pipeline_id(pipeline_name)
  if pipeline_id is None:
    pipeline = client.upload_pipeline(package, pipeline_name=pipeline_name)
    # The first upload makes the pipeline's first version, which the response omits.
    versions = client.list_pipeline_versions(pipeline.pipeline_id, page_size=1,
                                             sort_by='created_at desc').pipeline_versions
    if not versions:
      raise SubmitError(f'the server made pipeline {pipeline.pipeline_id} but lists no '
                        'version of it')
    return pipeline.pipeline_id, versions[0].pipeline_version_id
  version = client.upload_pipeline_version(package, version_name, pipeline_id=pipeline_id)
  return pipeline_id, version.pipeline_version_id


def submit(package: str, host: str, experiment: str = DEFAULT_EXPERIMENT,
           run_name: Optional[str] = None,
           pipeline_name: str = configs.PIPELINE_NAME) -> kfp_server_api.V2beta1Run:
  """Upload ``package`` and start a run of it in ``experiment`` (made if absent)."""
  if not os.path.isfile(package):
    raise SubmitError(f'{package}: no such package (palsy-tfx kubeflow compile writes one)')
  stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%d-%H%M%S')
  # A version's name is unique within its pipeline: the run's, stamped with the time.
  version_name = f'{run_name}-{stamp}' if run_name else f'{pipeline_name}-{stamp}'
  run_name = run_name or version_name
  try:
    client = kfp.Client(host=host)
    pipeline_id, version_id = _upload(client, package, pipeline_name, version_name)
    experiment_id = client.create_experiment(experiment).experiment_id
    return client.run_pipeline(experiment_id, run_name, pipeline_id=pipeline_id,
                               version_id=version_id)
  except kfp_server_api.ApiException as e:
    raise SubmitError(f'the Kubeflow Pipelines server at {host} answered {e.status} '
                      f'{e.reason}: {_server_message(e.body)}') from e
  except (urllib3.exceptions.HTTPError, TimeoutError) as e:
    raise SubmitError(f'cannot reach a Kubeflow Pipelines server at {host}: {e}') from e
