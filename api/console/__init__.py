"""管理控制台: the archive's web console for archivists, auditors and the three security officers.

Server-rendered (Jinja2) pages under ``/console/``, Chinese by default with an English switch,
a few lines of vendored JavaScript and nothing fetched at run time. Who may open a page or post
a form is decided by ``archive.permissions`` alone; each page module names its action.
"""

from api.console.app import console_router

__all__ = ["console_router"]
