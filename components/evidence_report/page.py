"""HTML building blocks of the evidence report: one self-contained page.

Everything the page shows is inside the file: images are base64 data URIs, styles
and the one script are inline, so the report can be mailed, archived or opened on a
machine without network. Every text cell is escaped; pseudonyms and paths come from
user data.
"""
import base64
import html
import re
from typing import Iterable, Optional, Sequence

_STYLE = '''
body { font-family: sans-serif; margin: 2em; color: #222; }
h1 { margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
div.table { overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f0f0f0; }
tr.bad td { background: #fde8e8; }
.verdict-good { color: #146c2e; font-weight: bold; }
.verdict-bad { color: #b00020; font-weight: bold; }
.warning { border: 2px solid #b00020; background: #fde8e8; padding: 0.6em 1em; }
.note { color: #555; font-size: 0.9em; }
img { max-width: 100%; }
iframe { width: 100%; height: 600px; border: 1px solid #ccc; }
code { font-size: 0.95em; }
'''

# Counts the page's images and those that decoded, into data attributes of <body>, so a
# headless browser's DOM dump says whether every image loaded.
_IMAGE_CHECK = '''
window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  document.body.setAttribute('data-images', images.length);
  document.body.setAttribute('data-images-loaded', images.filter(function (i) {
    return i.complete && i.naturalWidth > 0;
  }).length);
});
'''


# A number, perhaps after a count like '1/2' and before a CI like '[0.50, 1.00]'.
_NUMBER = re.compile(r'^(\d+/\d+ )?[-+]?(\d[\d.]*(e[-+]?\d+)?|n/a)( \[[-\d., ]+\])?$')


def escape(value) -> str:
  return html.escape(str(value), quote=True)


def paragraph(text: str, css_class: Optional[str] = None) -> str:
  attribute = f' class="{css_class}"' if css_class else ''
  return f'<p{attribute}>{escape(text)}</p>'


def warning(text: str) -> str:
  return f'<div class="warning"><strong>Warning:</strong> {escape(text)}</div>'


def bullet_list(items: Iterable[str]) -> str:
  return '<ul>' + ''.join(f'<li>{escape(item)}</li>' for item in items) + '</ul>'


def table(header: Sequence[str], rows: Iterable[Sequence], bad_rows: Iterable[bool] = ()
          ) -> str:
  """A table of escaped cells, numbers right-aligned; rows flagged in ``bad_rows`` are
  shaded. Wide tables scroll sideways instead of widening the page."""
  bad = list(bad_rows)
  out = ['<div class="table"><table><thead><tr>',
         ''.join(f'<th>{escape(h)}</th>' for h in header), '</tr></thead><tbody>']
  for i, row in enumerate(rows):
    css = ' class="bad"' if i < len(bad) and bad[i] else ''
    out.append(f'<tr{css}>' + ''.join(_cell(c) for c in row) + '</tr>')
  out.append('</tbody></table></div>')
  return ''.join(out)


def _cell(value) -> str:
  css = ' class="num"' if _NUMBER.match(str(value)) else ''
  return f'<td{css}>{escape(value)}</td>'


def image(png: bytes, alt: str) -> str:
  data = base64.b64encode(png).decode('ascii')
  return f'<img src="data:image/png;base64,{data}" alt="{escape(alt)}">'


def iframe(document: str, title: str) -> str:
  """Another HTML document embedded in the page (its own scripts run inside it)."""
  return f'<iframe title="{escape(title)}" srcdoc="{escape(document)}"></iframe>'


def details(summary: str, *body: str) -> str:
  """Content folded away until the reader opens it."""
  return f'<details><summary>{escape(summary)}</summary>{"".join(body)}</details>'


def section(anchor: str, title: str, *body: str) -> str:
  return f'<section id="{escape(anchor)}"><h2>{escape(title)}</h2>{"".join(body)}</section>'


def document(title: str, *sections: str) -> str:
  """The whole page: styles, the image check, the title and the sections."""
  return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
          f'<title>{escape(title)}</title><style>{_STYLE}</style>'
          f'<script>{_IMAGE_CHECK}</script></head>'
          f'<body><h1>{escape(title)}</h1>{"".join(sections)}</body></html>\n')
