r"""The file commands (file port 9032, and the control port), confined to the simulator's root.

The root holds the directories MITS Pro lets a CTI client browse: ``Work`` (schedules; the
simulator looks up users' schedules here), ``Simulation``, ``Support``, ``SMB Config`` and
``CANBMS Config``. Wire paths are relative to the root and use ``\`` or ``/``: ``Work``,
``Work\My_Test.sdx``, ``Work/Sub/Other.sdx``. An empty path is the root itself.

Refused, touching nothing: absolute paths (``/x``, ``\x``, ``\\server\share``), drive letters
(``C:\...``, and any ``:`` in a component), ``..`` components, any component that is a symbolic
link (or a junction), and any path whose resolved location is outside the root. The refusal is
the command's documented failure code: BROWSE 3 (invalid directory), DOWNLOAD and UPLOAD 2
(failed), NEW 4 (folders cannot be added in this directory), DELETE 5 (delete failed).

Only ``.sdx``, ``.sdu``, ``.can``, ``.smb`` and ``.txt`` files may be deleted (result 6
otherwise); the top-level directories and the root cannot be deleted; a schedule in use by a
running or paused channel can be neither deleted (7) nor overwritten by an upload (4).

The chunks of an unfinished upload are held in memory, reserved in the simulator's
:class:`~.budget.MemoryBudget`: a chunk that would take unfinished uploads above three quarters
of the budget is refused with UPLOAD result 2 (failed) and that upload is abandoned.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..protocol import (
    BrowseDirectoryFeedback,
    BrowseDirectoryRequest,
    BrowseResult,
    DeleteFolderFeedback,
    DeleteFolderRequest,
    DirEntry,
    DownloadFileFeedback,
    DownloadFileRequest,
    FileResult,
    FileTransferResult,
    NewFolderFeedback,
    NewFolderRequest,
    NewOrDeleteFeedback,
    NewOrDeleteRequest,
    UploadFileFeedback,
    UploadFileRequest,
)
from .budget import MemoryBudget
from .schedule import SHIPPED_SCHEDULES_DIR

__all__ = [
    "AREAS",
    "DELETABLE_SUFFIXES",
    "WORK_DIR",
    "FileService",
    "PathRefused",
    "UploadState",
    "prepare_root",
]

logger = logging.getLogger(__name__)

#: Directory of users' schedules inside the root.
WORK_DIR = "Work"
#: The top-level directories created in the root (the MITS Pro directories CTI exposes).
AREAS = (WORK_DIR, "Simulation", "Support", "SMB Config", "CANBMS Config")
#: File types that DELETE may remove (protocol v1.1).
DELETABLE_SUFFIXES = frozenset({".sdx", ".sdu", ".can", ".smb", ".txt"})

_SEPARATORS = re.compile(r"[\\/]+")
_DRIVE = re.compile(r"^[A-Za-z]:")
_NAME_UNITS = 64  # DirFileName is wchar_t[64]
# What an unfinished upload costs besides its data (the state and its key), roughly.
_UPLOAD_ENTRY_BYTES = 512


class PathRefused(Exception):
    """A wire path that would leave the root (or is otherwise not acceptable)."""


def prepare_root(root: Path) -> None:
    """Create the top-level directories and copy the shipped schedules that ``Work`` lacks.

    Raises:
        OSError: if the directories cannot be created.
    """
    for area in AREAS:
        (root / area).mkdir(parents=True, exist_ok=True)
    work = root / WORK_DIR
    present = {entry.name.casefold() for entry in work.iterdir()}
    for shipped in sorted(SHIPPED_SCHEDULES_DIR.glob("*.sdx")):
        if shipped.name.casefold() not in present:
            shutil.copyfile(shipped, work / shipped.name)


@dataclass
class UploadState:
    """A file being uploaded in chunks on one connection."""

    upload_time: float
    package_count: int
    next_index: int = 0
    data: bytearray = field(default_factory=bytearray)
    #: Bytes reserved in the memory budget for this upload.
    reserved: int = 0


class FileService:
    """The file commands over the directory ``root``.

    ``in_use(path)`` tells whether a file is the schedule of a running or paused channel.
    ``budget`` holds the chunks of unfinished uploads (None: unbounded).
    Every method answers with the feedback message(s) of its command and raises nothing for
    bad input; an unexpected OS error becomes the command's failure code.
    """

    def __init__(
        self,
        root: Path,
        *,
        in_use: Callable[[Path], bool] = lambda path: False,
        chunk_bytes: int = 512 * 1024,
        max_file_bytes: int = 64 * 1024 * 1024,
        budget: MemoryBudget | None = None,
    ) -> None:
        self.root = root.resolve()
        self._in_use = in_use
        self._chunk_bytes = chunk_bytes
        self._max_file_bytes = max_file_bytes
        self._budget = budget

    # -- paths ---------------------------------------------------------------------------------

    def resolve(self, wire_path: str) -> Path:
        """The local path for ``wire_path`` inside the root.

        Raises:
            PathRefused: if the path is absolute, has a drive letter, a ``..`` component, a
                symbolic link on the way, or resolves outside the root.
        """
        text = wire_path.strip()
        if text.startswith(("/", "\\")):
            raise PathRefused(f"absolute path {wire_path!r}")
        if _DRIVE.match(text):
            raise PathRefused(f"drive letter in {wire_path!r}")
        path = self.root
        for part in _SEPARATORS.split(text):
            part = part.strip()
            if part in ("", "."):
                continue
            if part == ".." or ":" in part or "\x00" in part:
                raise PathRefused(f"component {part!r} in {wire_path!r}")
            path = path / part
            if path.is_symlink() or _is_junction(path):
                raise PathRefused(f"symbolic link in {wire_path!r}")
        resolved = path.resolve()
        if resolved != self.root and self.root not in resolved.parents:
            raise PathRefused(f"{wire_path!r} leaves the root")
        return path

    def _is_protected(self, path: Path) -> bool:
        return path == self.root or (path.parent == self.root and path.name in AREAS)

    # -- BROWSE --------------------------------------------------------------------------------

    def browse(self, request: BrowseDirectoryRequest) -> BrowseDirectoryFeedback:
        """List a directory: result 1 (2 for the schedule directory ``Work``), 3 if invalid."""
        try:
            directory = self.resolve(request.path)
            if not directory.is_dir():
                raise PathRefused(f"{request.path!r} is not a directory")
            entries = []
            for entry in sorted(directory.iterdir(), key=lambda p: (not p.is_dir(), p.name)):
                if entry.is_symlink() or _is_junction(entry):
                    continue
                name_units = len(entry.name.encode("utf-16-le")) // 2
                if name_units > _NAME_UNITS:
                    logger.debug("browse: %s skipped, its name is too long for the wire", entry)
                    continue
                info = entry.stat()
                entries.append(
                    DirEntry(
                        kind=0 if entry.is_dir() else 1,
                        name=entry.name,
                        size=0 if entry.is_dir() else min(info.st_size, 0x7FFFFFFF),
                        modified=time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.st_mtime)),
                    )
                )
        except (PathRefused, OSError) as exc:
            logger.info("browse %r refused: %s", request.path, exc)
            return BrowseDirectoryFeedback(result=BrowseResult.FAILED)
        is_work = directory == self.root / WORK_DIR
        result = BrowseResult.SCHEDULE_OK if is_work else BrowseResult.DIRECTORY_OK
        return BrowseDirectoryFeedback(result=result, entries=tuple(entries))

    # -- DOWNLOAD ------------------------------------------------------------------------------

    def download(self, request: DownloadFileRequest) -> list[DownloadFileFeedback]:
        """Send a file in chunks (result 1 each, MD5 per chunk); 2 failed, 4 too large."""
        stamp = request.download_time

        def failure(result: int) -> list[DownloadFileFeedback]:
            return [DownloadFileFeedback(result=result, download_time=stamp, package_count=0)]

        try:
            path = self.resolve(request.path)
            if not path.is_file():
                raise PathRefused(f"{request.path!r} is not a file")
            if path.stat().st_size > self._max_file_bytes:
                return failure(FileTransferResult.FILE_BUSY_OR_TOO_LARGE)
            data = path.read_bytes()
        except (PathRefused, OSError) as exc:
            logger.info("download %r refused: %s", request.path, exc)
            return failure(FileTransferResult.FAILED)
        size = self._chunk_bytes
        chunks = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
        return [
            DownloadFileFeedback(
                result=FileTransferResult.SUCCESS,
                download_time=stamp,
                package_count=len(chunks),
                package_index=index,
                md5=hashlib.md5(chunk).digest(),
                data=chunk,
            )
            for index, chunk in enumerate(chunks)
        ]

    # -- UPLOAD --------------------------------------------------------------------------------

    def upload(
        self, request: UploadFileRequest, uploads: dict[str, UploadState]
    ) -> UploadFileFeedback:
        """Receive one chunk; the file is written (atomically) when the last chunk arrives.

        Results: 1 chunk accepted, 2 failed (bad path, chunk out of order, missing directory,
        memory budget used up), 3 MD5 mismatch, 4 file in use by a running test or too large.
        ``uploads`` is the connection's table of unfinished uploads. The caller answers a
        request whose ``upload_time`` is not a finite number itself (it cannot be encoded).
        """

        def answer(result: int) -> UploadFileFeedback:
            return UploadFileFeedback(
                result=result,
                upload_time=request.upload_time,
                package_count=request.package_count,
                package_index=request.package_index,
            )

        key = request.path
        try:
            path = self.resolve(request.path)
            if path == self.root or path.is_dir() or not path.parent.is_dir():
                raise PathRefused(f"cannot write a file at {request.path!r}")
        except (PathRefused, OSError) as exc:
            logger.info("upload %r refused: %s", request.path, exc)
            self.discard_upload(uploads, key)
            return answer(FileTransferResult.FAILED)
        if hashlib.md5(request.data).digest() != bytes(request.md5):
            self.discard_upload(uploads, key)
            return answer(FileTransferResult.MD5_ERROR)
        if self._in_use(path):
            self.discard_upload(uploads, key)
            return answer(FileTransferResult.FILE_BUSY_OR_TOO_LARGE)
        state = uploads.get(key)
        if request.package_index == 0:
            self.discard_upload(uploads, key)
            state = UploadState(request.upload_time, request.package_count)
            if not self._reserve(state, _UPLOAD_ENTRY_BYTES + 4 * len(key)):
                return self._over_budget(request, answer)
            uploads[key] = state
        if (
            state is None
            or request.package_count < 1
            or request.package_index != state.next_index
            or request.package_count != state.package_count
            or request.upload_time != state.upload_time
        ):
            self.discard_upload(uploads, key)
            return answer(FileTransferResult.FAILED)
        if len(state.data) + len(request.data) > self._max_file_bytes:
            self.discard_upload(uploads, key)
            return answer(FileTransferResult.FILE_BUSY_OR_TOO_LARGE)
        if not self._reserve(state, len(request.data)):
            self.discard_upload(uploads, key)
            return self._over_budget(request, answer)
        state.data += request.data
        state.next_index += 1
        if state.next_index == state.package_count:
            self.discard_upload(uploads, key)
            temporary = path.with_name(f".{path.name}.upload-{os.getpid()}")
            try:
                temporary.write_bytes(state.data)
                os.replace(temporary, path)
            except OSError as exc:
                logger.warning("upload %r: writing failed: %s", request.path, exc)
                temporary.unlink(missing_ok=True)
                return answer(FileTransferResult.FAILED)
            logger.info("upload %r: %d bytes written", request.path, len(state.data))
        return answer(FileTransferResult.SUCCESS)

    def _reserve(self, state: UploadState, count: int) -> bool:
        budget = self._budget
        if budget is not None and not budget.try_reserve(count, budget.limit_bytes // 4):
            return False
        state.reserved += count
        return True

    def _over_budget(
        self, request: UploadFileRequest, answer: Callable[[int], UploadFileFeedback]
    ) -> UploadFileFeedback:
        budget = self._budget
        logger.warning(
            "upload %r refused: the memory budget for partial frames and unfinished uploads "
            "(%d bytes) is used up",
            request.path,
            budget.limit_bytes if budget is not None else 0,
        )
        return answer(FileTransferResult.FAILED)

    def discard_upload(self, uploads: dict[str, UploadState], key: str) -> None:
        """Forget the unfinished upload ``key`` of a connection and release its memory."""
        state = uploads.pop(key, None)
        if state is not None and self._budget is not None:
            self._budget.release(state.reserved)
            state.reserved = 0

    def discard_uploads(self, uploads: dict[str, UploadState]) -> None:
        """Forget every unfinished upload of a connection (it closed)."""
        for key in list(uploads):
            self.discard_upload(uploads, key)

    # -- NEW / DELETE --------------------------------------------------------------------------

    def new_folder(self, wire_path: str) -> int:
        """Create a folder: 1 created, 3 failed (exists, parent missing), 4 not allowed here."""
        try:
            path = self.resolve(wire_path)
        except PathRefused as exc:
            logger.info("new folder %r refused: %s", wire_path, exc)
            return FileResult.FOLDER_NOT_ALLOWED
        if path == self.root or path.parent == self.root:
            return FileResult.FOLDER_NOT_ALLOWED
        try:
            path.mkdir()
        except OSError as exc:
            logger.info("new folder %r failed: %s", wire_path, exc)
            return FileResult.NEW_FAILED
        return FileResult.NEW_OK

    def delete(self, wire_path: str, *, folders: bool) -> int:
        """Delete a file (or, with ``folders``, a folder and its content): 2 deleted,
        5 failed, 6 type not deletable, 7 in use, 8 does not exist."""
        try:
            path = self.resolve(wire_path)
        except PathRefused as exc:
            logger.info("delete %r refused: %s", wire_path, exc)
            return FileResult.DELETE_FAILED
        if self._is_protected(path):
            return FileResult.DELETE_FAILED
        if not path.exists():
            return FileResult.NOT_FOUND
        try:
            if path.is_dir():
                if not folders:
                    return FileResult.TYPE_NOT_DELETABLE
                files: list[Path] = []
                for current, dirs, names in os.walk(path):
                    for name in dirs + names:
                        entry = Path(current) / name
                        if entry.is_symlink() or _is_junction(entry):
                            return FileResult.TYPE_NOT_DELETABLE
                    files.extend(Path(current) / name for name in names)
                for entry in files:
                    if entry.suffix.lower() not in DELETABLE_SUFFIXES:
                        return FileResult.TYPE_NOT_DELETABLE
                    if self._in_use(entry):
                        return FileResult.FILE_IN_USE
                shutil.rmtree(path)
                return FileResult.DELETE_OK
            if path.suffix.lower() not in DELETABLE_SUFFIXES:
                return FileResult.TYPE_NOT_DELETABLE
            if self._in_use(path):
                return FileResult.FILE_IN_USE
            path.unlink()
        except OSError as exc:
            logger.info("delete %r failed: %s", wire_path, exc)
            return FileResult.DELETE_FAILED
        return FileResult.DELETE_OK

    def new_or_delete(self, request: NewOrDeleteRequest) -> NewOrDeleteFeedback:
        """NEW_OR_DELETE: type 1 creates a folder, type 0 deletes a file."""
        if request.kind == 1:
            return NewOrDeleteFeedback(result=self.new_folder(request.path))
        if request.kind == 0:
            return NewOrDeleteFeedback(result=self.delete(request.path, folders=False))
        return NewOrDeleteFeedback(result=FileResult.DELETE_FAILED)

    def new_folder_request(self, request: NewFolderRequest) -> NewFolderFeedback:
        """NEW_FOLDER."""
        return NewFolderFeedback(result=self.new_folder(request.path))

    def delete_request(self, request: DeleteFolderRequest) -> DeleteFolderFeedback:
        """DELETE_FOLDER: a file, or a folder with everything in it."""
        return DeleteFolderFeedback(result=self.delete(request.path, folders=True))


def _is_junction(path: Path) -> bool:
    is_junction = getattr(os.path, "isjunction", None)  # Python 3.12+, Windows junctions
    return bool(is_junction(path)) if is_junction is not None else False
