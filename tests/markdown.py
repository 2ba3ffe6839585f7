"""Read a Markdown document back for tests: its sections and the tables in them."""
import re
from typing import Dict, List, Sequence


def sections(text: str) -> Dict[str, str]:
  """'## Title' -> the section's text up to the next '## '."""
  parts = re.split(r'^## (.+)$', text, flags=re.M)
  return {title.strip(): body for title, body in zip(parts[1::2], parts[2::2])}


def tables(text: str) -> List[List[List[str]]]:
  """Every table in ``text``: its rows (header first, the '---' line dropped) of cells."""
  found, current = [], None
  for line in text.splitlines():
    if line.startswith('|'):
      cells = [c.strip().replace('\\|', '|') for c in re.split(r'(?<!\\)\|', line)[1:-1]]
      if current is None:
        current = []
        found.append(current)
      if not all(set(c) <= {'-'} and c for c in cells):
        current.append(cells)
    else:
      current = None
  return found


def table_rows(text: str, header: Sequence[str]) -> Dict[str, List[str]]:
  """The first table with this ``header``: its rows as first cell -> the other cells."""
  for rows in tables(text):
    if rows[0] == list(header):
      return {row[0]: row[1:] for row in rows[1:]}
  raise KeyError(header)
