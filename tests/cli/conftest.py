"""A store with long model ids for the terminal-output tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from long_ids import BASE, LONG, LORA, run


@pytest.fixture(scope="module")
def long_ids_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """BASE -> LORA (adapter) -> LONG (finetune), each with one reported run of 12345.678 kWh-ish."""
    from dia.record.store import Store

    url = f"sqlite:///{Path(tmp_path_factory.mktemp('cli')) / 'long.db'}"
    with Store(url) as store:
        store.save_run(run(BASE, 12345.678, [], 0))
        store.save_run(run(LORA, 0.00123, [(BASE, "adapter")], 1))
        store.save_run(run(LONG, 987.6, [(LORA, "finetune")], 2))
    return url
