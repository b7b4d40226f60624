"""Body files that no record uses any more: removed after the commit that freed them, or later
while a backup holds them (blobs.HOLD_FILE)."""

from __future__ import annotations

from openkvs.backends.embedded.blobs import BlobFiles
from openkvs.backends.embedded.writer import After


class DeadBodies:
    """Shared by the parts that free body files (record writes, store deletes) and the stats
    flush that forgets their `dead_blobs` rows once the files are gone."""

    def __init__(self, files: BlobFiles) -> None:
        self._files = files
        self._removed: list[str] = []  # files gone whose dead_blobs rows are still to delete
        self._deferred: list[str] = []  # files kept while a backup copies

    def bury(self, after: After, dead: list[str]) -> None:
        """Remove the files `dead` once the writer's batch has committed (on its thread)."""

        def remove() -> None:
            if self._files.held():  # a backup is copying: removed once it is done
                self._deferred.extend(dead)
                return
            for blob in dead:
                self._files.remove(blob)
            self._removed.extend(dead)

        if dead:
            after.append(remove)

    def take_removed(self) -> list[str]:
        """The files removed since the last call, after removing those a backup held if it has
        let go of them: their dead_blobs rows can be deleted."""
        if self._deferred and not self._files.held():
            deferred, self._deferred = self._deferred, []
            for blob in deferred:
                self._files.remove(blob)
            self._removed.extend(deferred)
        removed, self._removed = self._removed, []
        return removed
