"""A static files finder for the npm files that pages link, and nothing else of the packages.

The packages' build folders hold every variant (ES modules, RTL, unminified, type
declarations): about 32 MB, where pages link under 4 MB. Collecting, hashing and compressing
only the files settings.NPM_STATIC_FILES names, with the source maps beside them, keeps
`collectstatic` quick and STATIC_ROOT small. A new vendor file is one more name there.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.staticfiles.finders import BaseFinder
from django.core.checks import Error
from django.core.files.storage import FileSystemStorage


class NpmFinder(BaseFinder):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Served path -> (storage over the package folder, name inside it).
        self.files: dict[str, tuple[FileSystemStorage, str]] = {}
        self.missing: list[str] = []
        for prefix, (folder, names) in settings.NPM_STATIC_FILES.items():
            storage = FileSystemStorage(location=settings.NODE_MODULES / folder)
            storage.prefix = prefix
            for name in names:
                if not storage.exists(name):
                    self.missing.append(f"{folder}/{name}")
                    continue
                # A minified file names its source map; collectstatic rewrites that reference.
                for served in (name, f"{name}.map"):
                    if storage.exists(served):
                        self.files[f"{prefix}/{served}"] = (storage, served)

    def check(self, **kwargs):
        return [
            Error(
                f"node_modules/{path} is missing.",
                hint="Run `npm ci` (make run does), or correct NPM_STATIC_FILES.",
                id="config.E001",
            )
            for path in self.missing
        ]

    def find(self, path, find_all=False, **kwargs):
        # As Django's own finders: [] when not found, whatever find_all says.
        if path not in self.files:
            return []
        storage, name = self.files[path]
        return [storage.path(name)] if find_all else storage.path(name)

    def list(self, ignore_patterns):
        for storage, name in self.files.values():
            yield name, storage
