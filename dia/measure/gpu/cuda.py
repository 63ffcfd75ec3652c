"""What torch's CUDA runtime says about this process, without importing torch.

DIA never imports torch to ask: when the user's code has not imported it, or has not
initialised CUDA, every function here answers ``None``/``False`` at once.

* :func:`current_device_uuid`: the UUID of the GPU torch's current device is, so a
  rank's GPU is found by UUID (CUDA's device order differs from NVML's by default:
  ``CUDA_DEVICE_ORDER=FASTEST_FIRST``).
* :func:`synchronize`: wait for the work queued on the current device, so a window's
  edges see the energy of the kernels launched inside it (as Zeus does).

>>> from dia.measure.gpu.cuda import current_device_uuid
>>> uuid = current_device_uuid()  # None without CUDA in use, e.g. on a CPU-only machine
>>> uuid is None or uuid.startswith(("GPU-", "MIG-"))
True
"""

from __future__ import annotations

import sys
from typing import Any


def _initialised_cuda() -> Any | None:
    """``torch.cuda`` when torch is imported and CUDA initialised in this process, else ``None``."""
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None) if torch is not None else None
    try:
        if cuda is not None and cuda.is_available() and cuda.is_initialized():
            return cuda
    except Exception:  # a broken CUDA install must not break the user's run
        return None
    return None


def current_device_uuid() -> str | None:
    """``GPU-...`` (or ``MIG-...``) UUID of torch's current CUDA device; ``None`` if unknown."""
    cuda = _initialised_cuda()
    if cuda is None:
        return None
    try:
        uuid = str(cuda.get_device_properties(cuda.current_device()).uuid)
    except Exception:  # old torch without .uuid, or a device that went away
        return None
    return uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}"


def synchronize() -> bool:
    """Wait for the current CUDA device's queued work; ``True`` if there was a device to wait for."""
    cuda = _initialised_cuda()
    if cuda is None:
        return False
    try:
        cuda.synchronize()
    except Exception:  # a failed sync only blurs the window's edge
        return False
    return True
