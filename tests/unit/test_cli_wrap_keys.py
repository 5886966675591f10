"""``xgw keys rotate-wrap``: a new local wrap key for stored content keys, the old ones kept."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.crypto.keywrap import WrapKeys


def test_rotate_wrap_adds_a_current_wrap_key_and_keeps_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("XGW_")]:
        monkeypatch.delenv(name)
    assert main(["keys", "rotate-wrap", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["keys", "rotate-wrap", "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert first["previous"] is None and second["previous"] == first["kid"]
    wrap = WrapKeys(tmp_path / "xgw-data" / "keys" / "gateway")
    assert wrap.kids() == [first["kid"], second["kid"]] and wrap.current() == second["kid"]
    assert all(stat.S_IMODE(wrap.path(kid).stat().st_mode) == 0o600 for kid in wrap.kids())
