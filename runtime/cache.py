"""On-disk cache of object code, keyed by a hash of the IR text and everything that shapes its codegen.

Entries are verified (magic, key, lengths, sha256) before use; anything else is ignored and rewritten.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
import warnings

_MAGIC = b"VIVEOBJ1"
# magic, raw key (32 bytes), metadata length, object length, sha256(metadata + object)
_HEADER = struct.Struct("<8s32sIQ32s")
_FORMAT = "vive-cpu-object-v1"       # bump when the entry layout or the TM settings change


def cache_dir() -> str | None:
    """The cache directory, or None when caching is disabled (VIVE_NO_CACHE=1 or VIVE_CACHE_DIR=)."""
    if os.environ.get("VIVE_NO_CACHE", "") not in ("", "0"):
        return None
    d = os.environ.get("VIVE_CACHE_DIR")
    if d is not None:
        return d or None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "vive")


def make_key(ir_text: str, *, triple: str, cpu: str, features: str, data_layout: str,
             llvmlite_version: str, llvm_version: str, opt: int | str, version: str) -> str:
    """sha256 hex of every input that changes the object code; fields are length-prefixed, so never ambiguous."""
    h = hashlib.sha256()
    for field in (_FORMAT, ir_text, triple, cpu, features, data_layout, llvmlite_version, llvm_version,
                  str(opt), version):
        b = field.encode()
        h.update(struct.pack("<Q", len(b)))
        h.update(b)
    return h.hexdigest()


def entry_path(key: str, directory: str | None = None) -> str | None:
    d = cache_dir() if directory is None else directory
    if d is None:
        return None
    return os.path.join(d, "objects", key[:2], key + ".vo")


def entry_exists(key: str, directory: str | None = None) -> bool:
    """Whether an entry (verified or not) is stored under `key`."""
    path = entry_path(key, directory)
    return path is not None and os.path.exists(path)


def load(key: str, directory: str | None = None) -> tuple[bytes, dict] | None:
    """(object bytes, metadata) of a verified entry, or None when absent, corrupt, truncated or foreign (the last
    three with a RuntimeWarning: the caller compiles anew and overwrites it)."""
    path = entry_path(key, directory)
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    entry, why = _verify(data, key)
    if entry is None:
        damaged(path, why)
    return entry


def damaged(path: str, why: str) -> None:
    """Say that a cache entry cannot be used (it is then compiled anew and overwritten); never an error."""
    warnings.warn(f"vive: ignoring damaged code-cache entry {path} ({why}); compiling anew", RuntimeWarning,
                  stacklevel=3)


def _verify(data: bytes, key: str) -> tuple[tuple[bytes, dict] | None, str]:
    if len(data) < _HEADER.size:
        return None, "truncated header"
    magic, raw_key, meta_len, obj_len, digest = _HEADER.unpack_from(data)
    if magic != _MAGIC:
        return None, "not a vive cache entry"
    if raw_key != bytes.fromhex(key):
        return None, "stored under another key"
    body = data[_HEADER.size:]
    if len(body) != meta_len + obj_len:
        return None, "truncated"
    if hashlib.sha256(body).digest() != digest:
        return None, "checksum mismatch"
    try:
        meta = json.loads(body[:meta_len].decode())
    except (UnicodeDecodeError, ValueError):
        return None, "unreadable metadata"
    if not isinstance(meta, dict):
        return None, "unreadable metadata"
    return (body[meta_len:], meta), ""


def store(key: str, obj: bytes, meta: dict, directory: str | None = None) -> str | None:
    """Write an entry atomically (temp file + os.replace); returns its path, or None if caching is off or fails.

    NOTE: failures (read-only home, full disk) are swallowed: the cache is an optimisation, never an error.
    """
    path = entry_path(key, directory)
    if path is None:
        return None
    meta_b = json.dumps(meta, sort_keys=True).encode()
    body = meta_b + obj
    header = _HEADER.pack(_MAGIC, bytes.fromhex(key), len(meta_b), len(obj), hashlib.sha256(body).digest())
    tmp = None
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".vo", dir=os.path.dirname(path))
        with os.fdopen(fd, "wb") as f:
            f.write(header)
            f.write(body)
        os.replace(tmp, path)
        return path
    except OSError:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        return None
