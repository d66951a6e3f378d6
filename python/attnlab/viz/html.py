"""What every interactive view is: a :class:`View`, self-contained HTML with a static picture
beside it, and the documents and files that hold views.

A view's HTML carries its own JavaScript and CSS (the files in ``assets/``, inlined) and its
data: no CDN, no require.js, no network request, so it shows offline, in JupyterLab, Notebook
7, VS Code and in a saved file. Every rendering gets fresh element ids, so several views work
in one page. In a notebook the output also carries the view's static picture (a PNG drawn by
matplotlib), shown where scripts do not run: GitHub, nbviewer, an untrusted notebook, a PDF.
"""

from __future__ import annotations

import base64
import html as html_escape
import io
import os
import secrets
import tempfile
import webbrowser
from collections.abc import Callable, Sequence
from functools import cache
from importlib import resources
from pathlib import Path

from attnlab.viz._payload import script_json

_FORMATS = (".html", ".svg", ".png", ".pdf")
_FALLBACK_NOTE = (
    "A static picture of an interactive attnlab view: run the cell (or trust the "
    "notebook) to explore it."
)


@cache
def _asset(name: str) -> str:
    return resources.files("attnlab.viz").joinpath("assets", name).read_text(encoding="utf-8")


class View:
    """An interactive view of attention.

    In a notebook it shows itself (with its static picture as the fallback where scripts do
    not run); ``.html`` is a complete HTML document, ``.save(path)`` writes HTML, SVG, PNG or
    PDF by the file's extension, ``.show()`` opens it in the browser (as
    ``matplotlib.pyplot.show`` would) and ``.figure()`` is its static picture. In the page,
    the PNG and SVG buttons download what the view shows at that moment.
    """

    def __init__(self, kind: str, title: str, data: dict, picture: Callable[[], object]):
        self.kind = kind
        self.title = title
        self._data = script_json(data | {"title": title})
        self._picture = picture
        self._png: bytes | None = None

    def figure(self):
        """The static picture: a matplotlib Figure (not registered with pyplot) of what the
        view shows when it opens. Needs matplotlib (``pip install attnlab[viz]``)."""
        return self._picture()

    def _fragment(self, fallback: bool) -> str:
        element = f"attnlab-{secrets.token_hex(8)}"
        inner = self._fallback_html(element) if fallback else ""
        return (
            f'<div class="attnlab-view" id="{element}" data-kind="{self.kind}">{inner}</div>\n'
            f"<style>{_asset('views.css')}</style>\n"
            f"<script>{_asset('common.js')}\n{_asset(self.kind + '.js')}\n"
            f'attnlabViews.start(document.getElementById("{element}"), "{self.kind}", '
            f"{self._data});</script>"
        )

    def _fallback_html(self, element: str) -> str:
        """The static picture and a one-line note; the view's script removes both."""
        png = self._static_png()
        picture = (
            ""
            if png is None
            else (
                f'<img alt="{html_escape.escape(self.title)}" style="max-width:100%" '
                f'src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'
            )
        )
        note = (
            _FALLBACK_NOTE
            if png is not None
            else (_FALLBACK_NOTE + " (Install matplotlib for a static picture here.)")
        )
        return (
            f'<div class="attnlab-fallback" id="{element}-fallback">{picture}'
            f"<div><i>{html_escape.escape(note)}</i></div></div>"
        )

    def _static_png(self) -> bytes | None:
        """The static picture as PNG bytes, drawn once; None without matplotlib. In 256
        colours (Pillow comes with matplotlib): a head view's many faint lines make a
        true-colour PNG some 3x larger, and the notebook keeps the picture twice."""
        if self._png is None:
            try:
                import matplotlib  # noqa: F401  (only to know whether it is there)
                from PIL import Image
            except ImportError:
                return None
            drawn = io.BytesIO()
            self.figure().savefig(drawn, format="png", dpi=72)
            drawn.seek(0)
            buffer = io.BytesIO()
            Image.open(drawn).convert("RGB").quantize(colors=256).save(
                buffer, format="PNG", optimize=True
            )
            self._png = buffer.getvalue()
        return self._png

    def _repr_html_(self) -> str:
        return self._fragment(fallback=True)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        """HTML (script, and the static picture for where scripts do not run), the picture as
        PNG for frontends that take no HTML (a PDF export), and plain text."""
        bundle = {"text/html": self._repr_html_(), "text/plain": repr(self)}
        png = self._static_png()
        if png is not None:
            bundle["image/png"] = png
        return bundle

    @property
    def html(self) -> str:
        """A complete, self-contained HTML document holding this view."""
        return document([self], self.title)

    def save(self, path: str | os.PathLike) -> Path:
        """Writes the view to ``path`` by its extension, atomically (a temporary file renamed
        over it): ``.html`` the interactive page; ``.svg``, ``.png`` or ``.pdf`` the static
        picture (:meth:`figure`, drawn by matplotlib). The folder must exist."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in _FORMATS:
            raise ValueError(
                f"path: {str(path)!r} ends in {suffix or 'no extension'!r}; "
                f"expected one of {', '.join(_FORMATS)}"
            )
        if suffix == ".html":
            return save_document([self], path, title=self.title)
        _check_folder(path)
        buffer = io.BytesIO()
        self.figure().savefig(buffer, format=suffix[1:], dpi=150)
        return _write_atomically(buffer.getvalue(), path)

    def save_html(self, path: str | os.PathLike) -> Path:
        """Writes ``.html`` to ``path`` atomically (a temporary file renamed over it)."""
        return save_document([self], path, title=self.title)

    def show(self) -> Path:
        """Opens the view in the default web browser (the script's answer to
        ``matplotlib.pyplot.show``): writes it to a temporary ``.html`` file, which stays for
        the browser to read, and returns that file's path."""
        descriptor, name = tempfile.mkstemp(prefix=f"attnlab-{self.kind}-", suffix=".html")
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(self.html)
        path = Path(name)
        if not webbrowser.open(path.as_uri()):
            print(f"attnlab: no web browser found; open {path.as_uri()}")
        return path

    def __repr__(self) -> str:
        return f"<attnlab View {self.kind}: {self.title}>"


def document(views: Sequence[View], title: str = "attnlab") -> str:
    """One self-contained HTML document holding several views (each keeps its own ids and
    data), for :func:`save_document` or a web page of your own."""
    if (
        isinstance(views, View)
        or not isinstance(views, Sequence)
        or not all(isinstance(v, View) for v in views)
    ):
        raise TypeError(f"views: expected a list of attnlab Views, got {type(views).__name__}")
    body = "\n".join(view._fragment(fallback=False) for view in views)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<link rel="icon" href="data:,"><title>{html_escape.escape(title)}</title></head>\n'
        f"<body>\n{body}\n</body></html>\n"
    )


def save_document(
    views: Sequence[View], path: str | os.PathLike, *, title: str = "attnlab"
) -> Path:
    """Writes several views into one HTML file at ``path`` (see :func:`document`), through a
    temporary file in the same folder, fsync and rename, so that an interrupted save leaves
    any older file whole. The folder must exist. Returns the path."""
    path = Path(path)
    _check_folder(path)
    return _write_atomically(document(views, title).encode("utf-8"), path)


def _check_folder(path: Path) -> None:
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"path: cannot save {str(path)!r}: the folder {str(path.parent)!r} does not exist"
        )


def _write_atomically(data: bytes, path: Path) -> Path:
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        # mkstemp makes the file private (0600); a saved view gets what open() would give it.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
