"""The suite's own plumbing: a missing component fails under CI and skips elsewhere with the command
that provides it; test servers get ports no other process can be handed in the meantime."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import redis

from . import components
from .conftest import free_port
from .reliability import support


def absent(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    component = components.COMPONENTS[name]
    monkeypatch.setitem(
        components.COMPONENTS, name, components.Component(component.what, component.enable, lambda: False)
    )


@pytest.mark.parametrize("name", sorted(components.COMPONENTS))
def test_a_missing_component_fails_under_ci_and_skips_with_its_command_elsewhere(monkeypatch, name):
    absent(monkeypatch, name)
    enable = components.COMPONENTS[name].enable
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set") as failed:
        components.require(name)
    assert enable in str(failed.value)
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception) as skipped:
        components.require(name)
    assert str(skipped.value).endswith(f"to run this test: {enable}")


def test_the_real_data_file_is_a_setting_and_named_when_missing(monkeypatch, tmp_path):
    elsewhere = tmp_path / "clone-elsewhere" / "online_retail_dev.parquet"
    monkeypatch.setenv("PRICING_DEV_DATA", str(elsewhere))
    assert components.dev_data_file() == elsewhere.resolve()
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match=str(elsewhere)):
        components.require("dev-data")
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(b"PAR1")
    components.require("dev-data")  # present: neither skips nor fails


def test_free_port_is_never_one_the_kernel_hands_to_outgoing_connections():
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    ports = {free_port() for _ in range(50)}
    assert all(not low <= port <= high for port in ports)
    for port in list(ports)[:5]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # free when handed out


def test_a_private_redis_moves_to_another_port_when_its_port_was_taken(monkeypatch, tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        offered = iter([taken, free_port()])
        monkeypatch.setattr(support, "free_port", lambda: next(offered))
        proc, port = support.start_private_redis(tmp_path)
    try:
        assert port != taken and redis.Redis(port=port).ping()
    finally:
        support.stop(proc)
