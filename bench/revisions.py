"""Another revision of this repository, checked out for a side-by-side measurement."""

import contextlib
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def checked_out(revision):
    """A temporary git worktree of `revision`; its path while the block runs."""
    with tempfile.TemporaryDirectory() as tree:
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", tree, revision], check=True,
                       capture_output=True)
        try:
            yield tree
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", tree], check=False)
