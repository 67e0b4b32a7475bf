"""File helpers shared by every stage: PNG writing, hashing, format sniffing and atomic outputs."""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import io
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from rbc_dataset.errors import DataError, UsageError

# zlib level 1 with run-length strategy: measured about 2x faster than OpenCV's default on noisy smears,
# and no larger (noise defeats zlib's matching anyway).
PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]

# Leading bytes of the formats met in practice (the extension of a file is not trusted).
MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
)


# What a file's extension claims, to compare with what its bytes are.
EXTENSION_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff", ".bmp": "bmp"}


def sniff_format(head: bytes) -> str | None:
    """Image format from a file's first bytes (``None`` when not an image format known here)."""
    for magic, name in MAGIC:
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def is_truncated(data: bytes, fmt: str | None) -> bool:
    """Whether a PNG lacks its IEND chunk or a JPEG its end-of-image marker (a cut-off download)."""
    if fmt == "png":
        return not data.rstrip(b"\x00").endswith(b"IEND\xaeB`\x82")
    if fmt == "jpeg":
        return b"\xff\xd9" not in data[-64:]
    return False


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, block: int = 1 << 22) -> str:
    """SHA-256 of a file, read in blocks (shards can be gigabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of an RGB (H, W, 3), grey (H, W) uint8 or label (H, W) uint16 array; deterministic."""
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, buffer = cv2.imencode(".png", array, PNG_PARAMS)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode an array of shape {array.shape} as PNG")
    return buffer.tobytes()


def write_png(path: Path, array: np.ndarray) -> None:
    path.write_bytes(encode_png(array))


# The one decode limit of the project (decompression bombs): every decode checks the header against it first.
# AneRBC's 1224x960 images are 1.2 M pixels; validate-masks can raise it for trusted data (`max_pixels`).
MAX_PIXELS = 200_000_000
EXIF_ORIENTATION = 0x0112
FORMATS_TEXT = "PNG, JPEG, TIFF, BMP, GIF or WebP"


class ImageRefused(DataError):
    """An image file that is not decoded; ``code`` names the reason as a validation finding code."""

    def __init__(self, code: str, path: str | Path | None, expected: str, found: str, fix: str):
        self.code = code
        super().__init__(path, expected, found, fix)

    def __reduce__(self):
        return (type(self), (self.code, self.path, self.expected, self.found, self.fix))


@dataclass(frozen=True)
class ImageHeader:
    """What an image file's header says, read without decoding a pixel."""

    format: str  # png, jpeg, ... (from the bytes, not the name)
    width: int
    height: int
    mode: str  # PIL mode: RGB, L, RGBA, P, 1, I;16 ...
    orientation: int  # EXIF orientation tag, 1 = as stored


@functools.cache
def _header_readers() -> dict:
    """PIL's reader class per format. Used directly, a reader parses the header without PIL's own pixel limit
    (the limit is ours) and never guesses another format than the one the leading bytes name."""
    from PIL import BmpImagePlugin, GifImagePlugin, JpegImagePlugin, PngImagePlugin, TiffImagePlugin, WebPImagePlugin

    return {
        "png": PngImagePlugin.PngImageFile,
        "jpeg": JpegImagePlugin.JpegImageFile,
        "gif": GifImagePlugin.GifImageFile,
        "bmp": BmpImagePlugin.BmpImageFile,
        "tiff": TiffImagePlugin.TiffImageFile,
        "webp": WebPImagePlugin.WebPImageFile,
    }


def _orientation(image) -> int:
    """EXIF orientation without decoding pixels (for PNG, getexif() would decode the whole image first)."""
    from PIL import Image

    if image.format == "PNG":
        raw = image.info.get("exif")
        if not raw:
            return 1
        exif = Image.Exif()
        exif.load(raw)
    else:
        exif = image.getexif()
    return int(exif.get(EXIF_ORIENTATION, 1) or 1)


def image_header(data: bytes, path: str | Path | None, *, max_pixels: int = MAX_PIXELS) -> ImageHeader:
    """The check before every decode: empty, unknown, truncated, unreadable or too large files are refused.

    Width and height come from the header alone, so a small file that would expand to gigabytes (a
    decompression bomb) is refused in microseconds. No byte of the file is quoted in the message.

    Raises:
        ImageRefused: naming ``path``, what was expected and found, and the fix.
    """
    reexport = "re-download or re-export the file"
    if not data:
        raise ImageRefused("empty_file", path, f"{FORMATS_TEXT} bytes", "an empty file (0 bytes)", reexport)
    fmt = sniff_format(data[:16])
    if fmt is None:
        found = f"{len(data)} bytes of no image format known here (text or a web page under an image name?)"
        raise ImageRefused("not_an_image", path, f"{FORMATS_TEXT} bytes", found, "re-export the file as PNG")
    if is_truncated(data, fmt):  # before the header: PIL's EXIF reader fails on cut-off files
        found = f"no end-of-image marker after {len(data)} bytes"
        raise ImageRefused("truncated_file", path, f"a complete {fmt} file", found, reexport)
    try:
        with _header_readers()[fmt](io.BytesIO(data)) as image:
            (width, height), mode = image.size, image.mode
            orientation = _orientation(image)
    except (OSError, SyntaxError, ValueError, KeyError, IndexError, TypeError, EOFError) as exc:
        found = f"a header that cannot be read ({type(exc).__name__}: {exc})"
        raise ImageRefused("unreadable_file", path, f"a readable {fmt} header", found, reexport) from exc
    if width * height > max_pixels:
        raise ImageRefused(
            "too_many_pixels",
            path,
            f"at most {max_pixels:,} pixels",
            f"{width}x{height} = {width * height:,} pixels (a decompression bomb?)",
            "check where the file comes from; for trusted data validate-masks can raise the limit "
            "(`max_pixels` in its --config file)",
        )
    return ImageHeader(fmt, width, height=height, mode=mode, orientation=orientation)


def decode_image(
    data: bytes, path: str | Path | None, *, flags: int = cv2.IMREAD_UNCHANGED, max_pixels: int = MAX_PIXELS
):
    """Decode image bytes after ``image_header``'s check; RGB channel order for colour images.

    Raises:
        ImageRefused: the header check failed, or OpenCV could not decode the data.
    """
    header = image_header(data, path, max_pixels=max_pixels)
    try:
        array = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error as exc:
        found = f"an OpenCV error ({str(exc).strip().splitlines()[-1]})"
        expected = f"decodable {header.format} data"
        raise ImageRefused("undecodable_file", path, expected, found, "re-export the file") from exc
    if array is None:
        found = "data OpenCV cannot decode"
        raise ImageRefused("undecodable_file", path, f"decodable {header.format} data", found, "re-export the file")
    if array.ndim == 3 and array.shape[2] == 3:
        array = cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
    elif array.ndim == 3 and array.shape[2] == 4:
        array = cv2.cvtColor(array, cv2.COLOR_BGRA2RGBA)
    return array


def read_file(path: str | Path) -> bytes:
    """A file's bytes; a missing or unreadable file is an ``ImageRefused`` naming it (never an OSError)."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise ImageRefused("unreadable_file", path, "a file", "no such file", "check the path") from exc
    except OSError as exc:
        found = f"an OS error: {exc.strerror or exc}"
        raise ImageRefused(
            "unreadable_file", path, "a readable file", found, "check that the file is readable"
        ) from exc


def read_image(path: str | Path, *, flags: int = cv2.IMREAD_UNCHANGED, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an image file through ``image_header``'s check; RGB channel order for colour images.

    Raises:
        ImageRefused: (a ``DataError``) the file is missing, empty, not an image, truncated, too large or
            undecodable; the message names the file.
    """
    return decode_image(read_file(path), path, flags=flags, max_pixels=max_pixels)


SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def safe_name(text: str) -> str:
    """A file-name stem made from data (a sample id, a class name): letters, digits, ``._-`` only, never a path.

    Names already in the safe set are kept as they are (readable ids stay readable); anything else is replaced
    by a slug plus a short hash of the original, so two different ids never share a file and ``..`` or ``/``
    can never leave the folder the name is joined to.
    """
    text = str(text)
    if SAFE_NAME.fullmatch(text) and ".." not in text:
        return text
    slug = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:80] or "x"
    return f"{slug}-{hashlib.sha256(text.encode('utf-8', 'surrogateescape')).hexdigest()[:10]}"


def path_inside(folder: Path, *parts: str) -> Path:
    """``folder / parts``, refused unless it resolves inside ``folder`` (the last guard before writing a file)."""
    folder = Path(folder).resolve()
    target = folder.joinpath(*parts).resolve()
    if folder not in target.parents:
        raise DataError(
            target,
            f"an output path inside {folder}",
            "a path that leaves it (a name from the data holds '..', '/' or is absolute)",
            "report this as a bug of rbc-dataset; outputs are named by safe slugs of sample ids",
        )
    return target


def link_leaves(path: str | Path, root: str | Path) -> bool:
    """Whether ``path`` lies inside ``root`` by name but a symbolic link on the way leads out of it.

    Such files are reported, never read: a dataset (an unpacked archive) must not pull a file from elsewhere
    on the machine (``mask.png -> /etc/hostname``) into a report or a shard. Paths outside the root by name
    are not judged here (a metadata CSV may name them on purpose).
    """
    root, path = Path(os.path.abspath(root)), Path(os.path.abspath(path))
    if root not in path.parents:
        return False
    try:
        real_root, target = root.resolve(), path.resolve()
    except (OSError, RuntimeError):  # a link loop: reading the file fails and says so
        return False
    return real_root not in target.parents


def check_output_outside(out: Path, inputs: list[Path], *, replaced: bool = False) -> None:
    """Refuse an output folder inside an input folder: outputs must never land in the data they describe.

    With ``replaced`` (an output folder that ``--overwrite`` replaces as a whole), also refuse one that holds
    an input: replacing it would delete the input.
    """
    out = Path(out).resolve()
    for source in inputs:
        source = Path(source).resolve()
        if out == source or source in out.parents:
            raise UsageError(f"output {out} lies inside the input {source}; choose an output folder outside the input")
        if replaced and out in source.parents:
            raise UsageError(f"output {out} holds the input {source}; choose an output folder outside the input")


@contextlib.contextmanager
def atomic_directory(out: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling folder that replaces ``out`` only when the block finishes without error.

    An interrupted run leaves at most a hidden ``.NAME.partial-PID-TOKEN`` folder (never something that looks
    complete), which the next run for the same output removes once process PID has ended. With ``overwrite``
    the previous complete output stays in place until the new one is ready. Without it, an output that
    appeared while the block ran (another run to the same place) is never replaced: this run fails with a
    UsageError and only its own folder is removed.
    """
    from rbc_dataset.faults import note_unfinished

    out = Path(out)
    if out.exists() and not overwrite and (out.is_file() or any(out.iterdir())):
        raise UsageError(f"output {out} already exists and is not empty; pass --overwrite to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(out)
    # A token besides the PID: two outputs of one process never share a temporary folder.
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        yield tmp
        _commit(tmp, out, overwrite)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        note_unfinished(exc, out)
        raise


def _commit(tmp: Path, out: Path, overwrite: bool) -> None:
    """Rename the finished ``tmp`` to ``out``; without ``overwrite``, never over an output that appeared meanwhile.

    No separate existence check (a race window) and no lock file (left behind by a killed run): rename(2) of
    a directory fails with ENOTEMPTY/EEXIST when the target is a non-empty directory and with ENOTDIR when it
    is a file, so the check and the commit are one atomic step. It does replace an empty directory, which
    holds nothing to lose and is what an output folder created ahead by the user looks like.
    """
    old = out.parent / f".{out.name}.old-{os.getpid()}-{secrets.token_hex(4)}"
    if overwrite:
        with contextlib.suppress(FileNotFoundError):  # gone meanwhile: nothing to keep aside
            out.rename(old)
    try:
        os.rename(tmp, out)
    except OSError as exc:
        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
            with contextlib.suppress(FileNotFoundError):
                old.rename(out)  # not a race: put the previous output back
            raise
        raise UsageError(
            f"output {out} was written by another run while this one was working; this run's result was "
            f"discarded and {out} is as the other run left it; pass --overwrite to replace it, or choose another "
            "output"
        ) from exc
    finally:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        elif old.is_symlink() or old.exists():
            old.unlink()


def remove_stale_partials(out: Path) -> list[Path]:
    """Remove the ``.NAME.partial-PID...`` leftovers next to ``out`` of processes that no longer run.

    A run killed with SIGKILL (or by a power cut) cannot clean up after itself; the next run for the same
    output does it. Leftovers of live processes (a build running now) are kept.
    """
    from rbc_dataset.faults import pid_alive

    prefix, removed = f".{Path(out).name}.partial-", []
    if not Path(out).parent.is_dir():
        return removed
    for entry in os.scandir(Path(out).parent):
        pid = entry.name[len(prefix) :].split("-")[0] if entry.name.startswith(prefix) else ""
        if not pid.isdigit() or pid_alive(int(pid)):
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            Path(entry.path).unlink(missing_ok=True)
        removed.append(Path(entry.path))
    return removed


def _signature(path: Path) -> tuple | None:
    """What changes when a file or a folder's files are written: inode, time and size of each."""
    try:
        if path.is_dir() and not path.is_symlink():
            return tuple(sorted((e.name, e.inode(), e.stat().st_mtime_ns, e.stat().st_size) for e in os.scandir(path)))
        stat = path.lstat()
    except OSError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


@contextlib.contextmanager
def removed_on_error(*paths: Path) -> Iterator[None]:
    """Remove those of ``paths`` (files or folders) that the block wrote, if it raises.

    For outputs that belong together but cannot share one ``atomic_directory`` (a report's JSON, Markdown,
    HTML and thumbnails beside other files): after a full disk or an interrupt none of them is left to look
    complete. Paths the block did not touch (an earlier run's report, when the interrupt came first) are kept.
    """
    paths = [Path(p) for p in paths]
    before = {p: _signature(p) for p in paths}
    try:
        yield
    except BaseException:
        for path in paths:
            if _signature(path) == before[path]:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a file through a temporary name and a rename, so that readers never see half a file.

    A failed write (a full disk, an interrupt) removes the temporary file.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def json_bytes(data, *, indent: int | None = 1, sort_keys: bool = False, default=None) -> bytes:
    """The project's JSON text: UTF-8, a final newline; ``indent=None`` for the compact form."""
    separators = (",", ":") if indent is None else None
    text = json.dumps(
        data, indent=indent, sort_keys=sort_keys, default=default, ensure_ascii=False, separators=separators
    )
    return (text + "\n").encode()


def write_json(path: Path, data, *, indent: int | None = 1, sort_keys: bool = False, default=None) -> None:
    """Write ``data`` as JSON atomically (``atomic_write_bytes``): the one JSON writer of the project."""
    atomic_write_bytes(Path(path), json_bytes(data, indent=indent, sort_keys=sort_keys, default=default))
