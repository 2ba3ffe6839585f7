"""Imports only run downward: every module's imports, read with ``ast``, against the floors.

- ``preprocessing/`` imports nothing of ours;
- ``trainer/`` only ``preprocessing/``;
- ``components/`` only ``preprocessing/`` and ``trainer/``'s export contract, never
  ``pipeline/``; and the two components that show the evaluation,
  ``evidence_report/`` and ``model_card/``, never each other (both read
  ``components/evaluation/`` and ``video_ingest.summary``);
- ``pipeline/`` assembles and runs, and may import all of the above;
- ``kubeflow/``, ``bench/``, ``tests/`` and ``scripts/`` may import anything.

Imports inside functions count: a lazy import is still a dependency, and one hidden in a
function body is how a loop between floors hid before. The test of the test below feeds
the checker upward imports of each kind and shows it refuses them.
"""
import ast
import pathlib
from typing import Iterator, List, Tuple

from tests.conftest import ROOT as _ROOT

ROOT = pathlib.Path(_ROOT)

OURS = ('preprocessing', 'trainer', 'components', 'pipeline')
# What each floor may import of ours, as dotted prefixes.
ALLOWED = {
    'preprocessing': ('preprocessing',),
    'trainer': ('preprocessing', 'trainer'),
    'components': ('preprocessing', 'components', 'trainer.export'),
    'pipeline': OURS,
}
# Sibling packages that must not import each other.
APART = (('components.evidence_report', 'components.model_card'),)


def module_name(path: pathlib.Path) -> str:
  parts = path.relative_to(ROOT).with_suffix('').parts
  return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def imported_modules(source: str, module: str, is_package: bool = False
                     ) -> Iterator[Tuple[int, str]]:
  """(line, dotted module) for every import in ``source``, at any depth; relative imports
  resolved against ``module``. ``from a import b`` yields ``a.b``: b may be a module."""
  package = module if is_package else module.rpartition('.')[0]
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      for alias in node.names:
        yield node.lineno, alias.name
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ''
      if node.level:
        anchor = package.split('.')[:len(package.split('.')) - (node.level - 1)]
        base = '.'.join(anchor + ([base] if base else []))
      for alias in node.names:
        yield node.lineno, f'{base}.{alias.name}' if base else alias.name


def _within(name: str, prefix: str) -> bool:
  return name == prefix or name.startswith(prefix + '.')


def upward_imports(source: str, module: str, is_package: bool = False) -> List[str]:
  """Every import in ``source`` (the text of ``module``) that breaks the floors."""
  floor = module.split('.')[0]
  if floor not in ALLOWED:
    return []
  found = []
  for line, name in imported_modules(source, module, is_package):
    if name.split('.')[0] not in OURS:
      continue
    if not any(_within(name, prefix) for prefix in ALLOWED[floor]):
      found.append(f'{module}:{line} imports {name} ({floor}/ may import only '
                   f'{", ".join(ALLOWED[floor])})')
    for a, b in APART:
      for mine, theirs in ((a, b), (b, a)):
        if _within(module, mine) and _within(name, theirs):
          found.append(f'{module}:{line} imports {name} ({mine} and {theirs} never '
                       'import each other)')
  return found


def test_imports_only_run_downward():
  sources = [p for floor in OURS for p in sorted((ROOT / floor).rglob('*.py'))]
  assert len(sources) > 60  # the walk found the house
  broken = [line for path in sources for line in upward_imports(
      path.read_text(), module_name(path), path.name == '__init__.py')]
  assert not broken, '\n'.join(broken)


def test_the_checker_refuses_each_kind_of_upward_import():
  assert upward_imports('from pipeline import configs\n', 'components.video_ingest.manifest')
  assert upward_imports('import pipeline.options\n', 'trainer.task')
  # Inside a function, where the old loop hid.
  assert upward_imports('def f():\n  from pipeline.runners import summary\n',
                        'components.evaluation.results')
  assert upward_imports('from trainer import presets\n', 'preprocessing.contract')
  assert upward_imports('from components.video_ingest import splits\n', 'trainer.data')
  # A component may read trainer's export contract, and nothing else of trainer.
  assert upward_imports('from trainer import task\n', 'components.model_card.card')
  assert not upward_imports('from trainer import export\n', 'components.model_card.card')
  # Siblings, either way round, absolute or relative.
  assert upward_imports('from components.evidence_report.sections import split_rows\n',
                        'components.model_card.card')
  assert upward_imports('from ..model_card import card\n', 'components.evidence_report.page')
  # Relative imports resolve to their real package.
  assert not upward_imports('from . import splits\n', 'components.video_ingest.extract')
  assert upward_imports('from ..evidence_report import page\n', 'components.model_card.card')
  # What is allowed passes.
  assert not upward_imports('from preprocessing import contract\nimport numpy\n',
                            'trainer.export')
  assert not upward_imports('from components.evaluation import tables\n',
                            'pipeline.runners.summary')
  assert not upward_imports('from pipeline import configs\n', 'tests.test_cli')
