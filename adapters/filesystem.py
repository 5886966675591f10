"""Hot-folder delivery: one package per submission in a directory a Fachverfahren imports from.

The package layout, its atomic appearance and the write-once marker are those of
:class:`gateway.adapters.HotFolder`: ``<directory>/<submission_id>/`` (or ``<submission_id>.zip``)
with ``data.xml``, ``metadata.json``, ``attachments/`` and ``manifest.json``. Importers must
ignore names starting with a dot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from gateway.adapters import Adapter, AdapterOptions, HotFolder, Receipt, Submission


class FilesystemOptions(AdapterOptions):
    """Where and how packages are written."""

    directory: Path = Field(
        description="hot folder the Fachverfahren imports from; must exist and be writable"
    )
    format: Literal["directory", "zip"] = Field(
        default="directory", description="one directory per submission, or one zip file per submission"
    )


class FilesystemAdapter(Adapter[FilesystemOptions]):
    """Writes each submission as a package (data, metadata, attachments, manifest) into a hot folder.

    Packages appear atomically under the submission id; re-delivery writes nothing new.
    """

    def __init__(self, options: FilesystemOptions) -> None:
        super().__init__(options)
        self.folder = HotFolder(options.directory, format=options.format)

    async def check(self) -> None:
        """Raises ``ConfigError`` if the directory is missing, not a directory or not writable."""
        await self.folder.check()

    async def start(self) -> None:
        """Remove temporary packages that a crashed process left behind (older than an hour)."""
        await self.folder.remove_stale()

    async def deliver(self, submission: Submission) -> Receipt:
        """Write the package; raises ``TransientDeliveryError`` on I/O errors (disk full…)."""
        return await self.folder.deliver(submission)
