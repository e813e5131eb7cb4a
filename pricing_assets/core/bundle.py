"""The promoted bundle: what serving loads, and the lineage manifest that vouches for it.

Layout in the artifact store (one folder per promotion, never rewritten)::

    promoted/<stockcode>/<version>/models/<kind>/<file>   champion and fallbacks, each file stored once
    promoted/<stockcode>/<version>/preprocessor.json
    promoted/<stockcode>/<version>/scenario.parquet       the recent lines a price curve is scored on
    promoted/<stockcode>/<version>/price_curve.parquet
    promoted/<stockcode>/<version>/manifest.json          lineage + SHA-256 of every file above
    promoted/<stockcode>/current.json                     pointer: version + manifest SHA-256

A model made of other models (the models' mean, ``models/ensemble.py``) names its members'
files in the manifest (``models[i]["files"]``: the model's own file name -> its path in the bundle)
instead of holding a second copy of them: they are the fallbacks' own files, so a member's file that
fails verification refuses both the mean and that fallback, and the next model of the chain answers.

Promotion is atomic because the pointer is written last, in one put: until then readers keep
the previous bundle, whose folder nobody touches. Readers verify the manifest against the
pointer's hash and every file against the manifest before using any of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .stockcodes import validate_stockcode
from .store import ArtifactNotFoundError, ArtifactStore, sha256_hex

ROOT = "promoted"
MANIFEST = "manifest.json"
# What a reader needs from a pointer (write_bundle writes these and stock_code and run_id too).
POINTER_FIELDS = ("version", "manifest_key", "manifest_sha256")


class BundleIntegrityError(RuntimeError):
    """A bundle file is missing or its bytes do not match the manifest."""


def pointer_key(stock_code: str) -> str:
    return f"{ROOT}/{validate_stockcode(stock_code)}/current.json"


def bundle_version(files: dict[str, bytes], run_id: str) -> str:
    """Content digest of the files plus the run, so each promotion gets its own folder."""
    digest = sha256_hex(json.dumps({n: sha256_hex(b) for n, b in sorted(files.items())}, sort_keys=True).encode())
    return f"{digest[:12]}-{run_id.replace('-', '')[:8]}"


def write_bundle(
    store: ArtifactStore, stock_code: str, files: dict[str, bytes], manifest: dict[str, Any], run_id: str
) -> dict[str, Any]:
    """Write every file, then the manifest, then switch the pointer; return the pointer."""
    stock_code = validate_stockcode(stock_code)
    if MANIFEST in files:
        raise ValueError(f"{MANIFEST} is written by write_bundle, not passed as a file")
    version = bundle_version(files, run_id)
    prefix = f"{ROOT}/{stock_code}/{version}"
    for name, data in sorted(files.items()):
        store.put_bytes(f"{prefix}/{name}", data)
    full = {
        **manifest,
        "stock_code": stock_code,
        "version": version,
        "lineage_id": version,
        "run_id": run_id,
        "artifacts": {name: sha256_hex(data) for name, data in sorted(files.items())},
    }
    manifest_bytes = json.dumps(full, sort_keys=True, indent=2, default=str).encode()
    store.put_bytes(f"{prefix}/{MANIFEST}", manifest_bytes)
    pointer = {
        "stock_code": stock_code,
        "version": version,
        "manifest_key": f"{prefix}/{MANIFEST}",
        "manifest_sha256": sha256_hex(manifest_bytes),
        "run_id": run_id,
    }
    store.put_bytes(pointer_key(stock_code), json.dumps(pointer, sort_keys=True).encode())
    return pointer


@dataclass(frozen=True)
class LoadedBundle:
    pointer: dict[str, Any]
    manifest: dict[str, Any]
    files: dict[str, bytes]
    refused: dict[str, str] = field(default_factory=dict)  # file -> why it was not loaded (lenient reads)

    def model_files(self, kind: str) -> dict[str, bytes]:
        """``kind``'s files by the names its loader knows, wherever in the bundle each is stored.

        The manifest's entry for the model maps each name to its path (a file another model of the
        bundle also uses is stored once); bundles promoted before that list names under
        ``models/<kind>/``. A file that failed verification (a lenient read) refuses the model."""
        entry = next((m for m in self.manifest.get("models", []) if m.get("kind") == kind), {})
        paths = entry.get("files")
        if not isinstance(paths, dict):  # older bundles: every file of the model in its own folder
            prefix = f"models/{kind}/"
            names = [n for n in (*self.files, *self.refused) if n.startswith(prefix)]
            paths = {name[len(prefix) :]: name for name in names}
        if not paths:
            raise BundleIntegrityError(f"bundle {self.manifest['version']} has no files for model {kind}")
        found = {}
        for name, path in paths.items():
            if path in self.refused:
                raise BundleIntegrityError(f"{path} {self.refused[path]}")
            if path not in self.files:
                raise BundleIntegrityError(f"bundle {self.manifest['version']} has no {path} for model {kind}")
            found[name] = self.files[path]
        return found


def promoted_stockcodes(store: ArtifactStore) -> list[str]:
    """Stockcodes with a current promoted bundle."""
    return sorted({k.split("/")[1] for k in store.list_keys(ROOT) if k.count("/") == 2 and k.endswith("/current.json")})


def read_pointer(store: ArtifactStore, stock_code: str) -> dict[str, Any]:
    """The stockcode's pointer, checked to name a version and its manifest before anyone uses it.

    A pointer that is not a JSON object with those as text (a truncated copy, a hand edit, another
    tool's file) is a BundleIntegrityError like any other bad bundle file: the stockcode's promotion
    is refused, which serving must not take for the store failing (that would back off every
    stockcode), and the message says how to mend it."""
    key = pointer_key(stock_code)
    fix = f"promote {stock_code} again (pricing run --stockcodes {stock_code}) to write a new one"
    try:
        pointer = json.loads(store.get_bytes(key))
    except ValueError as exc:  # not JSON, or not UTF-8
        raise BundleIntegrityError(f"the promotion pointer {key} is not valid JSON ({exc}): {fix}") from exc
    if not isinstance(pointer, dict):
        raise BundleIntegrityError(f"the promotion pointer {key} is not a JSON object: {fix}")
    lacking = [name for name in POINTER_FIELDS if not isinstance(pointer.get(name), str) or not pointer[name]]
    if lacking:
        raise BundleIntegrityError(f"the promotion pointer {key} does not name its {' and '.join(lacking)}: {fix}")
    return pointer


def read_bundle(store: ArtifactStore, stock_code: str, strict: bool = True) -> LoadedBundle:
    """The current bundle of a stockcode, every byte verified against the recorded SHA-256s.

    ``strict=False`` (serving) leaves out model files that fail verification and says why in
    ``refused``, so the next model of the fallback chain can answer; anything else that fails
    verification (manifest, preprocessor, pricing inputs) is always an error.
    """
    pointer = read_pointer(store, stock_code)
    manifest_bytes = store.get_bytes(pointer["manifest_key"])
    if sha256_hex(manifest_bytes) != pointer["manifest_sha256"]:
        raise BundleIntegrityError(f"manifest of {stock_code} {pointer['version']} does not match its pointer")
    manifest = json.loads(manifest_bytes)
    prefix = pointer["manifest_key"].rsplit("/", 1)[0]
    files: dict[str, bytes] = {}
    refused: dict[str, str] = {}
    for name, expected in manifest["artifacts"].items():
        try:
            data = store.get_bytes(f"{prefix}/{name}")
            problem = None if sha256_hex(data) == expected else "fails its SHA-256 check"
        except ArtifactNotFoundError:
            problem = "is missing"
        if problem is None:
            files[name] = data
        elif strict or not name.startswith("models/"):
            raise BundleIntegrityError(f"{name} of {stock_code} {pointer['version']} {problem}")
        else:
            refused[name] = problem
    return LoadedBundle(pointer, manifest, files, refused)
