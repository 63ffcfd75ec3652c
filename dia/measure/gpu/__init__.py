"""GPU meters (NVIDIA through NVML)."""
