"""What every benchmark does at the end: a JSON file in benchmarks/results and a RESULT line."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import torch

from rnnagents.common.files import atomic_write_bytes

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def report(name: str, results: dict, result_keys: list[str], command: str) -> None:
    """Write benchmarks/results/NAME.json and print ``RESULT k=v ...`` as the last line."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": name,
        "command": command,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": machine(),
        **results,
    }
    atomic_write_bytes(RESULTS / f"{name}.json", (json.dumps(payload, indent=2) + "\n").encode())
    print(
        "RESULT "
        + " ".join(
            f"{k}={results[k]:.6g}" if isinstance(results[k], float) else f"{k}={results[k]}"
            for k in result_keys
        )
    )
