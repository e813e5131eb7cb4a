import pandas as pd
import pytest

from pricing_assets.core.store import (
    ArtifactNotFoundError,
    LocalArtifactStore,
    StoreKeyError,
    frame_content_hash,
    frame_to_parquet,
    parquet_to_frame,
)


def test_local_store_round_trip_and_atomic_replace(tmp_path):
    store = LocalArtifactStore(tmp_path)
    store.put_bytes("assets/a/85123A.parquet", b"one")
    store.put_bytes("assets/a/85123A.parquet", b"two")
    assert store.get_bytes("assets/a/85123A.parquet") == b"two"
    assert not [p for p in (tmp_path / "assets/a").iterdir() if p.name.endswith(".tmp")]
    with pytest.raises(ArtifactNotFoundError):
        store.get_bytes("assets/a/nothing.parquet")


@pytest.mark.parametrize("key", ["../x", "/etc/passwd", "a/../../b", "a//b", "a/./b", "a b", "é", "a\nb", ""])
def test_unsafe_keys_are_refused(tmp_path, key):
    with pytest.raises(StoreKeyError):
        LocalArtifactStore(tmp_path).put_bytes(key, b"x")
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_the_old_artifact(tmp_path, monkeypatch):
    store = LocalArtifactStore(tmp_path)
    store.put_bytes("k.bin", b"old")

    def broken_replace(*_):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", broken_replace)
    with pytest.raises(OSError):
        store.put_bytes("k.bin", b"new")
    assert store.get_bytes("k.bin") == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["k.bin"]


def test_content_hash_is_about_content():
    a = pd.DataFrame({"x": [1, 2], "y": ["a", "b"]})
    assert frame_content_hash(a) == frame_content_hash(parquet_to_frame(frame_to_parquet(a)))
    assert frame_content_hash(a) != frame_content_hash(a.assign(x=[1, 3]))
