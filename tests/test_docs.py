"""The docs: every relative link and anchor resolves, README.md stays short, every
component package has its README, and every palsy-tfx command is documented.

Fast and without TensorFlow: it reads Markdown, and the command line's parser
(``pipeline.cli.main``) imports only light modules.
"""
import argparse
import glob
import os
import re
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, 'README.md')
README_MAX_LINES = 200
PROGRAM = 'palsy-tfx'

FENCE = re.compile(r'^\s*(`{3,}|~{3,})')
HEADING = re.compile(r'^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$')
# [text](target) and ![alt](target), with an optional "title"; text may hold [brackets].
LINK = re.compile(r'!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^()\s<>]*)>?(?:\s+"[^"]*")?\s*\)')
INLINE_CODE = re.compile(r'(`+)(?:(?!\1).)+\1')
EXTERNAL = ('http://', 'https://', 'mailto:')


def doc_files():
  """README.md, docs/*.md and components/*/README.md."""
  return sorted([README] + glob.glob(os.path.join(ROOT, 'docs', '*.md'))
                + glob.glob(os.path.join(ROOT, 'components', '*', 'README.md')))


def _read(path):
  with open(path, encoding='utf-8') as f:
    return f.read()


def prose_lines(text):
  """The lines outside fenced code blocks (``` or ~~~, indented or not)."""
  fence = None
  for line in text.splitlines():
    match = FENCE.match(line)
    if fence is None:
      if match:
        fence = match.group(1)
      else:
        yield line
    elif match and line.strip() == match.group(1) and match.group(1)[0] == fence[0] \
        and len(match.group(1)) >= len(fence):
      fence = None


def github_slug(heading):
  """The anchor GitHub gives a heading: its text without link syntax, lower case, every
  character but letters, digits, '_', '-' and spaces dropped, each space a hyphen."""
  text = re.sub(r'!?\[([^\]]*)\]\([^)]*\)', r'\1', heading)
  text = re.sub(r'<[^>]+>', '', text).strip().lower()
  return re.sub(r'[^\w\- ]', '', text).replace(' ', '-')


def anchors(text):
  """The anchors of a document's headings, in order; a repeated slug gets -1, -2, ..."""
  seen, found = {}, []
  for line in prose_lines(text):
    match = HEADING.match(line)
    if not match:
      continue
    slug = base = github_slug(match.group(2))
    while slug in seen:
      seen[base] += 1
      slug = f'{base}-{seen[base]}'
    seen[slug] = 0
    found.append(slug)
  return found


def links(text):
  """The targets of the links outside code (fenced blocks and inline spans)."""
  for line in prose_lines(text):
    for match in LINK.finditer(INLINE_CODE.sub('', line)):
      yield match.group(1)


def link_problems(path):
  """Every relative link or anchor of the Markdown file ``path`` that does not resolve."""
  problems = []
  for target in links(_read(path)):
    if target.startswith(EXTERNAL):
      continue
    file_part, _, fragment = target.partition('#')
    dest = (os.path.normpath(os.path.join(os.path.dirname(path), urllib.parse.unquote(file_part)))
            if file_part else path)
    where = f'{os.path.relpath(path, ROOT)}: ({target})'
    if not os.path.exists(dest):
      problems.append(f'{where}: no file {os.path.relpath(dest, ROOT)}')
    elif fragment and not dest.endswith('.md'):
      problems.append(f'{where}: an anchor into a file that is not Markdown')
    elif fragment and fragment not in anchors(_read(dest)):
      problems.append(f'{where}: no heading of {os.path.relpath(dest, ROOT)} has this anchor')
  return problems


def subcommands(parser, path=()):
  """Every command path of an argparse parser, e.g. ('run',), ('kubeflow', 'compile');
  aliases included."""
  for action in parser._actions:  # pylint: disable=protected-access
    if isinstance(action, argparse._SubParsersAction):  # pylint: disable=protected-access
      for name, sub in action.choices.items():
        yield path + (name,)
        yield from subcommands(sub, path + (name,))


def undocumented(commands, text):
  """The command paths that ``text`` never writes as 'palsy-tfx <name> [<name>]'."""
  return [' '.join(command) for command in commands
          if not re.search(r'\s+'.join(map(re.escape, (PROGRAM,) + command)) + r'(?![\w-])',
                           text)]


def test_github_slugs():
  assert github_slug('The stack, and why these versions') == 'the-stack-and-why-these-versions'
  assert github_slug("The demo's gates") == 'the-demos-gates'
  assert github_slug('Ingest (`bench/ingest.py`)') == 'ingest-benchingestpy'
  assert github_slug('Manifests and media in a bucket (`gs://`, `s3://`, `hdfs://`)') == \
      'manifests-and-media-in-a-bucket-gs-s3-hdfs'
  assert github_slug('components/video_ingest') == 'componentsvideo_ingest'
  assert github_slug('See [the key](data.md#key) — twice') == 'see-the-key--twice'
  assert anchors('# A\n## A\n```\n# not a heading\n```\n## A\n### B #\n') == \
      ['a', 'a-1', 'a-2', 'b']


def test_a_broken_link_or_anchor_is_reported(tmp_path):
  (tmp_path / 'b.md').write_text('# B\n\n## Real heading\n', encoding='utf-8')
  (tmp_path / 'a.md').write_text(
      '# Top\n'
      '[ok](b.md#real-heading) [self](#top) [web](https://example.com/none.md)'
      ' [mail](mailto:x@example.com) [file](b.md)\n'
      '[gone](missing.md) and [wrong](b.md#no-such-heading) and [own](#nowhere)\n'
      '`[inline](ignored.md)`\n'
      '```\n[in code](ignored.md)\n```\n', encoding='utf-8')
  problems = link_problems(str(tmp_path / 'a.md'))
  assert len(problems) == 3, problems
  assert 'missing.md' in problems[0]
  assert '#no-such-heading' in problems[1]
  assert '#nowhere' in problems[2]


def test_every_relative_link_and_anchor_resolves():
  files = doc_files()
  assert len(files) > 2, files
  assert sum(1 for path in files for _ in links(_read(path))) > 0
  problems = [problem for path in files for problem in link_problems(path)]
  assert not problems, '\n'.join(problems)


def test_readme_is_at_most_200_lines():
  lines = _read(README).count('\n')
  assert 0 < lines <= README_MAX_LINES, f'README.md has {lines} lines'


def test_every_component_package_has_a_readme():
  packages = [path for path in glob.glob(os.path.join(ROOT, 'components', '*'))
              if os.path.isdir(path) and glob.glob(os.path.join(path, '*.py'))]
  assert packages
  missing = [os.path.relpath(path, ROOT) for path in packages
             if not os.path.isfile(os.path.join(path, 'README.md'))]
  assert not missing, f'component packages without README.md: {missing}'


def test_an_undocumented_command_is_reported():
  text = 'run `palsy-tfx run`, then palsy-tfx kubeflow\n  compile; palsy-tfx predict-all'
  assert undocumented([('run',), ('kubeflow', 'compile'), ('predict',), ('kubeflow', 'submit')],
                      text) == ['predict', 'kubeflow submit']


def test_every_command_is_documented():
  from pipeline.cli.main import build_parser  # pylint: disable=g-import-not-at-top
  commands = list(subcommands(build_parser()))
  assert ('run',) in commands and ('kubeflow', 'compile') in commands, commands
  text = '\n'.join(_read(path) for path in
                   [README] + sorted(glob.glob(os.path.join(ROOT, 'docs', '*.md'))))
  missing = undocumented(commands, text)
  assert not missing, f'commands that README.md and docs/ never name: {missing}'
